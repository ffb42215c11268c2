"""Where things are kept: the online and offline feature stores, the versioning remote, DVC sync, the experiment tracker."""
