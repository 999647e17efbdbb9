"""parley_messaging."""
