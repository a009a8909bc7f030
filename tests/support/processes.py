"""Running `grader …` as real subprocesses for the end-to-end tests, with their logs kept for failures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

GRADER = str(Path(sys.executable).with_name("grader"))


def grader_env(**settings: str | None) -> dict[str, str]:
    """The current environment without any GRADER_* setting, plus the given ones (None: unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update({f"GRADER_{k.upper()}": v for k, v in settings.items() if v is not None})
    # Set by tests/conftest.py: a server or worker on Postgres/Redis refuses to start without a real secret.
    env.setdefault("GRADER_SECRET_KEY", os.environ["GRADER_SECRET_KEY"])
    # And the suite's address budget (tests/conftest.py): a server on the shared Redis namespace with the
    # default budget of 20 would cap the bucket every other test server draws on.
    if "GRADER_AUTH_FAILURES_BURST" in os.environ:
        env.setdefault("GRADER_AUTH_FAILURES_BURST", os.environ["GRADER_AUTH_FAILURES_BURST"])
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.log = log
        self._file = log.open("wb")
        self.proc = subprocess.Popen(
            [GRADER, *args],
            env=env,
            cwd=cwd,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.log.name} exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            time.sleep(0.2)
        raise AssertionError(f"{self.log.name}: no {text!r} within {timeout} s:\n{self.output()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # Celery: warm shutdown; uvicorn: graceful
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._file.close()


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([GRADER, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"grader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def start_server(env: dict[str, str], workdir: Path, *extra: str, name: str = "server") -> tuple[Process, str]:
    """`grader serve` on a free port of its own, once `/healthz` answers: (the process, its base URL)."""
    import httpx

    from tests.support.services import free_port

    port = free_port()
    process = Process(
        ["serve", "--port", str(port), "--log-level", "warning", *extra], env, workdir / f"{name}-{port}.log", workdir
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        if process.proc.poll() is not None or time.monotonic() > deadline:
            process.stop()
            raise AssertionError(f"grader serve did not come up:\n{process.output()[-4000:]}")
        time.sleep(0.3)


@contextmanager
def running_worker(env: dict[str, str], workdir: Path) -> Iterator[Process]:
    """A real `grader worker` (one pool process) once Celery says it is ready, stopped afterwards."""
    process = Process(["worker", "--concurrency", "1", "--log-level", "info"], env, workdir / "worker.log", workdir)
    try:
        process.wait_for("ready.", timeout=60)
        yield process
    finally:
        process.stop()


def embedded_env(workdir: Path, **settings: str | None) -> dict[str, str]:
    """The embedded default as `scripts/run` starts it: a SQLite file in `workdir`, no Redis, no secret."""
    env = grader_env(database_url=f"sqlite:///{workdir}/grader.db", **settings)
    if "secret_key" not in settings:
        env.pop("GRADER_SECRET_KEY", None)
    return env
