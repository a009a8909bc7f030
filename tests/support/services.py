"""Helpers for the tests that run the service for real: a throwaway migrated Postgres database, API keys,
the API under uvicorn in a thread, polling. The fixtures built on them are in tests/conftest.py.

Postgres and Redis must be running; when they are not, every test that needs them fails saying how to
start them.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import uvicorn
from psycopg import sql

from grader.db.migrate import upgrade
from grader.db.models import Role
from grader.db.session import get_engine, get_session_factory, session_scope
from grader.keys.api_keys import create_api_key
from grader.keys.principal import CLI
from grader.settings import Settings

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
REDIS_TEST_DB = 13  # the service tests' own Redis database, so they never touch anyone's data on db 0
START_PG = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_REDIS = "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"


def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


@contextmanager
def migrated_database(prefix: str) -> Iterator[str]:
    """A fresh database `<prefix>_<random>` on the test server, at Alembic head, dropped afterwards."""
    admin_url = os.environ.get("GRADER_TEST_DATABASE_URL", PG_DEFAULT)
    name = f"{prefix}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"Postgres is not reachable at {admin_url} (GRADER_TEST_DATABASE_URL): {exc}\n"
            f"The service tests need it; start it with:\n    {START_PG}",
            pytrace=False,
        )
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_path(admin_url, "/" + name)
    try:
        upgrade(Settings(database_url=url).database_url)
        yield url
    finally:
        get_engine(Settings(database_url=url).database_url).dispose()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def make_key(settings: Settings, role: Role, name: str | None = None) -> str:
    with session_scope(get_session_factory(settings.database_url)) as session:
        _key, raw = create_api_key(session, name or f"test-{role.value}", role, CLI)
    return raw


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    url: str
    settings: Settings

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def wait_until(predicate: object, timeout: float, interval: float = 0.1) -> bool:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


class ServerThread:
    """The real ASGI app under uvicorn in a thread of the test process: real HTTP, real lifespan."""

    def __init__(self, settings: Settings, app: Any = None, **config_options: Any) -> None:
        from grader.web.app import create_app

        self.port = free_port()
        config = uvicorn.Config(
            app if app is not None else create_app(settings),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            **config_options,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.settings = settings

    def __enter__(self) -> Server:
        self.thread.start()
        if not wait_until(lambda: self.server.started, timeout=30):
            raise RuntimeError("the API server did not start within 30 s")
        return Server(f"http://127.0.0.1:{self.port}", self.settings)

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@dataclass
class Keys:
    recruiter: str
    other_recruiter: str
    reviewer: str
    admin: str
