"""Is the Postgres and the Redis the tests need there? Checked before anything is installed.

Standard library only, so it runs with any Python 3 before the project's venv exists. It speaks just enough
of each protocol to tell apart: nothing answering at the URL's host and port (`scripts/test` then starts a
throwaway server there), a server that answers but lacks the URL's database or refuses its user (a failure,
with the fix), and a server that is ready.

    python3 scripts/check_services.py    # exit 0 when both are ready, 1 otherwise (each problem with its fix)
"""

from __future__ import annotations

import enum
import getpass
import os
import socket
import struct
import sys
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

PG_ENV, PG_DEFAULT = "GRADER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
REDIS_ENV, REDIS_DEFAULT = "GRADER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
TIMEOUT = 3.0


class State(enum.Enum):
    READY = "ready"
    NOT_ANSWERING = "nothing answers"  # connection refused or timed out: a throwaway server can take the port
    UNUSABLE = "answers but cannot be used"  # missing database, refused user, not the expected protocol


@dataclass(frozen=True)
class Target:
    name: str  # "Postgres" or "Redis"
    env: str
    url: str
    host: str
    port: int
    user: str
    password: str | None
    database: str  # Postgres: database name; Redis: db number

    @property
    def is_local(self) -> bool:
        return self.host in LOCAL_HOSTS

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Status:
    target: Target
    state: State
    detail: str
    fix: str = ""

    def describe(self) -> str:
        line = f"{self.target.name} at {self.target.where} ({self.target.env}={self.target.url}): {self.detail}"
        return f"{line}\n    fix: {self.fix}" if self.fix else line


def postgres_target(url: str | None = None) -> Target:
    url = url or os.environ.get(PG_ENV) or PG_DEFAULT
    parts = urlsplit(url)
    user = unquote(parts.username or "") or getpass.getuser()  # libpq's defaults
    database = unquote(parts.path.lstrip("/")) or user
    password = unquote(parts.password) if parts.password else None
    return Target("Postgres", PG_ENV, url, parts.hostname or "127.0.0.1", parts.port or 5432, user, password, database)


def redis_target(url: str | None = None) -> Target:
    url = url or os.environ.get(REDIS_ENV) or REDIS_DEFAULT
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password else None
    database = parts.path.lstrip("/") or "0"
    user = unquote(parts.username or "")
    return Target("Redis", REDIS_ENV, url, parts.hostname or "127.0.0.1", parts.port or 6379, user, password, database)


def _connect(target: Target) -> socket.socket | Status:
    try:
        return socket.create_connection((target.host, target.port), timeout=TIMEOUT)
    except OSError as exc:
        return Status(target, State.NOT_ANSWERING, f"nothing answers ({exc.strerror or exc})")


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data


def _pg_error_fields(payload: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in payload.split(b"\0"):
        if item:
            fields[chr(item[0])] = item[1:].decode("utf-8", errors="replace")
    return fields


def check_postgres(target: Target) -> Status:
    """Send a protocol 3.0 startup message for the URL's user and database and read the first answer."""
    sock = _connect(target)
    if isinstance(sock, Status):
        return sock
    params = b"".join(
        k + b"\0" + v.encode() + b"\0" for k, v in ((b"user", target.user), (b"database", target.database))
    )
    body = struct.pack("!i", 196608) + params + b"\0"
    try:
        with sock:
            sock.sendall(struct.pack("!i", len(body) + 4) + body)
            # Authentication comes first; the database and the role are checked after AuthenticationOk,
            # so read on until ReadyForQuery ("Z") or an error ("E").
            while True:
                kind = _recv_exact(sock, 1)
                (length,) = struct.unpack("!i", _recv_exact(sock, 4))
                if not kind.isalpha() or not 4 <= length < 65536:
                    return Status(
                        target, State.UNUSABLE, "something answers, but not Postgres", "free the port or fix the URL"
                    )
                payload = _recv_exact(sock, length - 4)
                if kind == b"E":
                    break
                if kind == b"Z":
                    sock.sendall(b"X\0\0\0\x04")  # Terminate
                    return Status(target, State.READY, f"ready, database {target.database!r}")
                if kind == b"R" and struct.unpack("!i", payload[:4])[0] != 0:
                    if target.password is None:
                        return Status(
                            target,
                            State.UNUSABLE,
                            "Postgres asks for a password and the URL has none",
                            f"put the password in {target.env} or allow trust auth for 127.0.0.1",
                        )
                    return Status(
                        target,
                        State.READY,
                        f"answers and asks for a password; database {target.database!r} not checked",
                    )
    except (OSError, ConnectionError, struct.error) as exc:
        return Status(
            target,
            State.UNUSABLE,
            f"something answers, but not as Postgres does ({exc})",
            "free the port or fix the URL",
        )
    fields = _pg_error_fields(payload)
    code, message = fields.get("C", ""), fields.get("M", "")
    psql = f"psql -h {target.host} -p {target.port} -U {target.user} -d postgres"
    if code == "3D000":
        return Status(
            target,
            State.UNUSABLE,
            f"Postgres answers, but database {target.database!r} does not exist",
            f"{psql} -c 'CREATE DATABASE \"{target.database}\"'   (or name an existing one in {target.env})",
        )
    if code in ("28000", "28P01"):
        return Status(
            target,
            State.UNUSABLE,
            f"Postgres refuses user {target.user!r}: {message}",
            f"psql -h {target.host} -p {target.port} -U postgres -d postgres -c "
            f"'CREATE ROLE \"{target.user}\" LOGIN SUPERUSER'   (or name an existing user in {target.env})",
        )
    if code == "57P03":
        return Status(target, State.UNUSABLE, f"Postgres is starting up or shutting down: {message}", "wait and retry")
    return Status(target, State.UNUSABLE, f"Postgres refuses the connection: {code} {message}", "")


def _redis_command(sock: socket.socket, *args: str) -> str:
    encoded = [a.encode() for a in args]
    sock.sendall(f"*{len(encoded)}\r\n".encode() + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in encoded))
    reply = b""
    while not reply.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        reply += chunk
    return reply.decode("utf-8", errors="replace").strip()


def check_redis(target: Target) -> Status:
    """AUTH (when the URL has a password), PING and SELECT the URL's db number."""
    sock = _connect(target)
    if isinstance(sock, Status):
        return sock
    try:
        with sock:
            if target.password is not None:
                auth = ("AUTH", target.user, target.password) if target.user else ("AUTH", target.password)
                reply = _redis_command(sock, *auth)
                if not reply.startswith("+OK"):
                    return Status(
                        target,
                        State.UNUSABLE,
                        f"Redis refuses the URL's password: {reply}",
                        f"fix the password in {target.env}",
                    )
            reply = _redis_command(sock, "PING")
            if reply.startswith("-NOAUTH"):
                return Status(
                    target,
                    State.UNUSABLE,
                    "Redis asks for a password and the URL has none",
                    f"put it in {target.env} as redis://:PASSWORD@{target.where}/{target.database}",
                )
            if not reply.startswith("+PONG"):
                return Status(
                    target,
                    State.UNUSABLE,
                    f"something answers, but not Redis ({reply[:60]!r})",
                    "free the port or fix the URL",
                )
            reply = _redis_command(sock, "SELECT", target.database)
            if not reply.startswith("+OK"):
                return Status(
                    target,
                    State.UNUSABLE,
                    f"Redis answers, but has no db {target.database}: {reply}",
                    f"name a db number that exists (0-15 by default) in {target.env}",
                )
    except (OSError, ConnectionError) as exc:
        return Status(
            target, State.UNUSABLE, f"something answers, but not as Redis does ({exc})", "free the port or fix the URL"
        )
    return Status(target, State.READY, f"ready, db {target.database}")


def check_all() -> list[Status]:
    return [check_postgres(postgres_target()), check_redis(redis_target())]


def main() -> int:
    statuses = check_all()
    for status in statuses:
        ok = status.state is State.READY
        if status.state is State.NOT_ANSWERING:
            status = Status(
                status.target,
                status.state,
                status.detail,
                "run scripts/test, which starts a throwaway server there when nothing answers, "
                "or start one on that port",
            )
        print(("ok: " if ok else "ERROR: ") + status.describe(), file=sys.stdout if ok else sys.stderr, flush=True)
    return 0 if all(s.state is State.READY for s in statuses) else 1


if __name__ == "__main__":
    sys.exit(main())
