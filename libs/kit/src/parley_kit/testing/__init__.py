"""Pytest fixtures giving tests real engines with isolated names."""
