"""HTTP routes of messaging: conversations, messages (public `/v1`) and `/internal/v1`."""
