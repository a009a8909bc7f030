"""Embedded mode end to end: `grader serve` alone (SQLite, no Redis) accepts and grades answers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.support.processes import Process, grader_env, run
from tests.support.services import free_port, wait_until

pytestmark = pytest.mark.slow

ANSWER = (
    "多头注意力让每个头用不同的 QKV 矩阵在不同子空间计算注意力，"
    "单个头视角单一，多头能捕捉语义、语境等更多特征，最后拼接。"
)


def test_grader_serve_alone_grades_on_sqlite_without_redis(tmp_path: Path) -> None:
    db = tmp_path / "grader.db"
    env = grader_env(database_url=f"sqlite:///{db}")  # and no GRADER_REDIS_URL
    run(["db", "upgrade"], env, tmp_path)
    key = run(["keys", "create", "--role", "recruiter", "--name", "embedded-e2e"], env, tmp_path).stdout.strip()
    assert key.startswith("grd_")

    port = free_port()
    server = Process(["serve", "--port", str(port)], env, tmp_path / "serve.log", tmp_path)
    try:
        server.wait_for("Application startup complete", timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=30) as client:
            assert "embedded" in client.get("/readyz").json()["checks"]["broker"]["detail"]
            response = client.post(
                "/api/v1/submissions", json={"candidate_id": "c-1", "question_id": "q03", "answer": ANSWER}
            )
            assert response.status_code == 202
            body: dict = {}

            def finished() -> bool:
                nonlocal body
                body = client.get(response.headers["Location"]).json()
                return body["status"] not in ("pending", "running")

            # The first grade in a process loads the model and embeds the bank.
            assert wait_until(finished, 90, interval=0.2), server.output()[-3000:]
        assert body["status"] in ("graded", "needs_review"), body
        assert body["grade"]["key_points"] and body["grade"]["score"] > 30
    finally:
        server.stop()

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT score, key_points FROM grades").fetchall()
    assert len(rows) == 1 and rows[0][0] == body["grade"]["score"]


def test_embedded_restart_grades_what_a_previous_process_left_pending(tmp_path: Path) -> None:
    """A submission committed by a process that died before grading it is graded after a restart."""
    from grader.db.migrate import upgrade
    from grader.db.session import get_engine, get_session_factory, session_scope
    from grader.keys.principal import CLI
    from grader.submissions.schemas import SubmissionCreate
    from grader.submissions.submit import submit

    url = f"sqlite:///{tmp_path / 'grader.db'}"
    upgrade(url)
    with session_scope(get_session_factory(url)) as session:
        submission, _ = submit(
            session,
            SubmissionCreate(candidate_id="c", question_id="q03", answer=ANSWER),
            actor=CLI,
            max_answer_chars=10_000,
            queue=type("Lost", (), {"enqueue": lambda self, _id: None})(),
        )
        submission_id = str(submission.id).replace("-", "")
    get_engine(url).dispose()

    port = free_port()
    server = Process(["serve", "--port", str(port)], grader_env(database_url=url), tmp_path / "serve.log", tmp_path)
    try:
        server.wait_for("Application startup complete", timeout=60)

        def graded() -> bool:
            with sqlite3.connect(tmp_path / "grader.db") as conn:
                row = conn.execute("SELECT status FROM submissions WHERE id = ?", (submission_id,)).fetchone()
            return row is not None and row[0] in ("graded", "needs_review")

        assert wait_until(graded, 90, interval=0.5), server.output()[-3000:]
    finally:
        server.stop()
