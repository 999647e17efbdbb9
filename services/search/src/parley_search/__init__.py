"""parley_search."""
