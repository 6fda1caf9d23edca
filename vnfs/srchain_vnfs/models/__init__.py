"""Model files shipped with the classifier (produced by `make model`)."""
