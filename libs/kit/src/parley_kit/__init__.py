"""Runtime plumbing every Parley service would otherwise repeat."""
