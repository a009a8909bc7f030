"""Hole 1 of issue 13: on the embedded default (SQLite, no Redis, what `scripts/run` starts) the session
cookie was signed with the placeholder printed in the source, so anyone could forge an admin session.

Now the embedded default makes a random secret on first start and keeps it beside the database (0600),
reuses it on restart, and the placeholder is refused everywhere. The test forges the probe's cookie
against a real `grader serve` and shows it refused, and a real session surviving a restart."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from grader.settings import DEV_SECRET
from tests.support.dashboard import sign_in
from tests.support.processes import embedded_env, run, start_server

pytestmark = [pytest.mark.slow]


def forged_cookie(secret: str) -> str:
    return URLSafeTimedSerializer(secret, salt="grader-dashboard-session").dumps({"key": 1, "csrf": "attacker"})


def test_the_placeholder_secret_forges_nothing_and_the_embedded_secret_survives_restarts(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    run(["db", "upgrade"], env, tmp_path)
    admin = run(["keys", "create", "--role", "admin", "--name", "ops"], env, tmp_path).stdout.strip()
    server, url = start_server(env, tmp_path)
    try:
        # The probe's attack: key 1 (the admin just created) with the attacker's own CSRF token.
        with httpx.Client(base_url=url, cookies={"grader_dashboard": forged_cookie(DEV_SECRET)}) as attacker:
            page = attacker.get("/dashboard/queue")
            assert page.status_code == 303 and page.headers["location"].startswith("/dashboard/login")
            reply = attacker.post("/dashboard/logout", data={"csrf_token": "attacker"})
            assert reply.status_code in (303, 403) and "/dashboard/queue" not in reply.headers.get("location", "")
        secret = tmp_path / "grader.db.secret"
        assert secret.exists()
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert DEV_SECRET not in secret.read_text()
        with httpx.Client(base_url=url) as browser:
            sign_in(browser, admin)
            cookies = dict(browser.cookies)
    finally:
        server.stop()
    before = secret.read_text()
    server, url = start_server(env, tmp_path)
    try:
        assert secret.read_text() == before  # reused, not remade
        with httpx.Client(base_url=url, cookies=cookies) as browser:
            assert browser.get("/dashboard/queue").status_code == 200  # the session survived the restart
    finally:
        server.stop()


def test_a_server_given_the_placeholder_refuses_to_start(tmp_path: Path) -> None:
    import subprocess

    from tests.support.processes import GRADER

    env = embedded_env(tmp_path, secret_key=DEV_SECRET)
    result = subprocess.run(
        [GRADER, "serve", "--port", "1"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode != 0 and "GRADER_SECRET_KEY" in result.stdout + result.stderr
