"""Data and vocabulary: events, loaders, cleaning, generators, sequences, splits, catalog."""
