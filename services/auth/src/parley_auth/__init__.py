"""parley_auth."""
