"""parley_contracts."""
