"""What a newcomer sees when starting the service: a clear error on a busy port, a short start-up log, and
the server's own address leading somewhere."""

from __future__ import annotations

import logging
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from grader.db.migrate import upgrade
from tests.support.processes import GRADER, Process, grader_env
from tests.support.services import free_port


def test_a_busy_port_is_named_with_how_to_choose_another_before_anything_says_the_api_is_up(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = grader_env(database_url=f"sqlite:///{tmp_path / 'grader.db'}")
        result = subprocess.run(
            [GRADER, "serve", "--port", str(port)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert f"--port {port + 1}" in result.stderr
    assert "API on" not in result.stderr + result.stdout


def test_migrations_log_one_line_not_alembics_own(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    upgrade(f"sqlite:///{tmp_path / 'grader.db'}")
    records = [r for r in caplog.records if r.name.startswith(("alembic", "grader.db"))]
    assert [r.name for r in records] == ["grader.db.migrate"]
    assert "0001 -> 0002" in records[0].getMessage()
    caplog.clear()
    upgrade(f"sqlite:///{tmp_path / 'grader.db'}")  # already at head: nothing to say
    assert not [r for r in caplog.records if r.name.startswith(("alembic", "grader.db"))]


@pytest.mark.slow
def test_grader_serve_starts_with_a_short_log_and_its_address_leads_to_the_dashboard(tmp_path: Path) -> None:
    env = grader_env(database_url=f"sqlite:///{tmp_path / 'grader.db'}")
    port = free_port()
    server = Process(["serve", "--port", str(port)], env, tmp_path / "serve.log", tmp_path)
    try:
        server.wait_for("Application startup complete", timeout=60)
        home = httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=False, timeout=30)
        assert home.status_code in (302, 307) and home.headers["location"] == "/dashboard/"
        landing = httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=True, timeout=30)
        assert landing.status_code == 200 and "text/html" in landing.headers["content-type"]
    finally:
        server.stop()
    output = server.output()
    assert "setup plugin" not in output and "Context impl" not in output
    assert output.count("database migrated") == 1
    start_up = output[: output.index("Application startup complete")].splitlines()
    # The banner, uvicorn's "Started server process" and "Waiting for application startup", the migration.
    assert len(start_up) <= 5, output
