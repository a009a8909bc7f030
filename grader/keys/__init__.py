"""API keys, roles and the calling principal, and `/api/v1/keys`."""
