"""parley_client."""
