"""The numbers: two-sample statistics, the ECDF grid, metrics, splits and folds, and which value is true."""
