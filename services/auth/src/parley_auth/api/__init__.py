"""HTTP routes of auth: public (`/v1`, JWKS) and internal (`/internal/v1`)."""
