"""parley_kit."""
