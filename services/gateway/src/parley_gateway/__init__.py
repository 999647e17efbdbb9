"""parley_gateway."""
