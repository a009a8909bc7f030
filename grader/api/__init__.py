"""REST API (FastAPI): `create_app()` builds it; OpenAPI at /docs."""
