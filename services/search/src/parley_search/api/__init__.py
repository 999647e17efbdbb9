"""HTTP routes of search."""
