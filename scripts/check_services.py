"""Fail loudly, before pytest starts, when the Postgres or Redis the tests need is not reachable."""

import os
import socket
import sys
from urllib.parse import urlsplit

HELP = {
    "Postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no",
}


def reachable(url: str, default_port: int) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=3):
            return host, port, True
    except OSError:
        return host, port, False


failed = False
for name, env, port in (("Postgres", "GRADER_TEST_DATABASE_URL", 5432), ("Redis", "GRADER_TEST_REDIS_URL", 6379)):
    host, port, ok = reachable(os.environ[env], port)
    if not ok:
        failed = True
        print(f"ERROR: {name} is not reachable at {host}:{port} ({env}). The test suite needs it; "
              f"start it with:\n    {HELP[name]}", file=sys.stderr)
sys.exit(1 if failed else 0)
