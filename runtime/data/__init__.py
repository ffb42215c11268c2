"""Reading sources: files and their readers, DICOM and images, row expressions, a batch's features as of each row's time."""
