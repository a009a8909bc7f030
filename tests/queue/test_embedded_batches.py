"""Batches in embedded mode: `grader serve` alone (SQLite, no Redis) grades an uploaded sheet."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.processes import Process, grader_env, run
from tests.support.services import free_port, wait_until
from tests.support.sheets import LONG_ROWS, csv_bytes

pytestmark = pytest.mark.slow


def test_grader_serve_alone_grades_a_batch_on_sqlite(tmp_path: Path) -> None:
    env = grader_env(database_url=f"sqlite:///{tmp_path / 'grader.db'}")  # and no GRADER_REDIS_URL
    run(["db", "upgrade"], env, tmp_path)
    key = run(["keys", "create", "--role", "recruiter", "--name", "embedded-batch"], env, tmp_path).stdout.strip()
    port = free_port()
    server = Process(["serve", "--port", str(port)], env, tmp_path / "serve.log", tmp_path)
    try:
        server.wait_for("Application startup complete", timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=30) as client:
            response = client.post(
                "/api/v1/batches", files={"file": ("a.csv", csv_bytes(LONG_ROWS, encoding="utf-8-sig"))}
            )
            assert response.status_code == 202, response.text
            assert response.json()["encoding"] == "utf-8-sig"
            body: dict = {}

            def done() -> bool:
                nonlocal body
                body = client.get(response.headers["Location"]).json()
                return body["status"] == "done"

            assert wait_until(done, 120, interval=0.3), server.output()[-3000:]
            results = client.get(f"{response.headers['Location']}/results", params={"format": "json"}).json()
    finally:
        server.stop()

    assert body["counts"]["pending"] == 0 and body["counts"]["failed"] == 0
    assert [a["status"] in ("graded", "needs_review") for a in results["answers"]] == [True] * 4
