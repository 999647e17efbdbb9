"""Pytest plugin: real engines for tests (filled by the local-stack work)."""
