"""Persistence: one sync SQLAlchemy 2 stack (psycopg 3 on Postgres, sqlite3 embedded) for API and worker."""
