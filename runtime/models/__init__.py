"""What a model is: the training backends, the feature-to-matrix preprocessor, and the registered bundle."""
