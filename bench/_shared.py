"""Helpers the benchmark scripts share: the stack's start-up (a throwaway database, migrated; the settings
of the processes; `grader serve` and `grader worker` started and awaited; all stopped and removed), URLs,
ports and per-process CPU accounting.

The scripts run as `python bench/<name>.py`, so this folder is on sys.path and they import it directly.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
from psycopg import sql

GRADER = str(Path(sys.executable).with_name("grader"))
ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("GRADER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GRADER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (not of their children)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


# --- the stack ------------------------------------------------------------------------------------------------


@contextmanager
def throwaway_database(admin_url: str = ADMIN_URL, *, keep: bool = False) -> Iterator[str]:
    """A database of its own on the Postgres server (`grader_bench_<random>`), dropped afterwards unless
    `keep`; yields its URL."""
    name = f"grader_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_path(admin_url, "/" + name)
    finally:
        if not keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def stack_env(database_url: str, redis_url: str, queue: str, **settings: str) -> dict[str, str]:
    """The environment of the benchmarked `grader` processes: this one's, less every GRADER_ setting, with
    the database, Redis, a queue of its own, a random secret (the settings refuse the placeholder when
    Redis and Postgres are configured), the rate limit off (the bench is the only client: measure the
    service) and `settings` (GRADER_<NAME>=value)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(
        GRADER_DATABASE_URL=database_url,
        GRADER_REDIS_URL=redis_url,
        GRADER_CELERY_QUEUE=queue,
        GRADER_SECRET_KEY=secrets.token_hex(32),
        GRADER_RATE_LIMIT_PER_SECOND="0",
        PYTHONUNBUFFERED="1",
    )
    env.update({f"GRADER_{name.upper()}": value for name, value in settings.items()})
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run([GRADER, "db", "upgrade"], env=env, check=True, capture_output=True)


def make_key(env: dict[str, str], role: str, name: str) -> str:
    return subprocess.run(
        [GRADER, "keys", "create", "--role", role, "--name", name], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def start(args: Sequence[str], env: dict[str, str], log: Path, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """`grader <args>` in the background, its output in `log`."""
    return subprocess.Popen([GRADER, *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=cwd)


def start_api(env: dict[str, str], log: Path, cwd: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`grader serve` on a free port, once /healthz answers; its base URL."""
    port = free_port()
    api = start(["serve", "--port", str(port), "--log-level", "warning"], env, log, cwd)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return api, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or api.poll() is not None:
            raise SystemExit(f"the API did not start; see {log}")
        time.sleep(0.2)


def stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    """Terminate, then wait (30 s each) and kill what is still running."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def clear_queue(redis_url: str, queue: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"*{queue}*"):
        client.delete(key)
