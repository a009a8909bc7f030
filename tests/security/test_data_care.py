"""Data care through a full flow with real processes (`grader serve`, `worker`, `beat` on Postgres and
Redis): candidate names and emails never reach a log line; every log line is JSON with a request id and
the API's request id follows the answer into the worker; `/metrics` speaks the Prometheus format with
request latency, queue depth, grading duration and submissions by status.

And the audit log: overrides and key management are recorded, the application cannot change or delete
an entry (ORM guard and Postgres trigger); keys are shown once and stored hashed; settings refuse the
placeholder secret outside the embedded default."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DBAPIError

from grader.db.append_only import AuditLogIsAppendOnly
from grader.db.models import AuditEntry, Role
from grader.db.session import get_engine, get_session_factory, session_scope
from grader.settings import DEV_SECRET, Settings
from tests.support.processes import Process, grader_env
from tests.support.services import free_port, make_key, wait_until
from tests.support.sheets import csv_bytes

pytestmark = [pytest.mark.services]

MARK = secrets.token_hex(3)
NAMES = [f"王秘密{MARK}", f"Zhang Secretname{MARK}", f"李隐私{MARK}"]
EMAILS = [f"secret.{MARK}@candidate.example", f"hidden{MARK}@candidate.example", f"li.{MARK}@candidate.example"]


@pytest.fixture(scope="module")
def flow(pg_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """serve + worker + beat as subprocesses; a recruiter submits, uploads, a reviewer overrides."""
    tmp = tmp_path_factory.mktemp("data-care")
    queue = f"grader-care-{secrets.token_hex(3)}"
    env = grader_env(
        database_url=pg_settings.database_url,
        redis_url=pg_settings.redis_url,
        celery_queue=queue,
        embedder="hash",
        stuck_after_seconds="10",
        log_format="json",
    )
    port = free_port()
    processes = []
    try:
        for args, ready in (
            (["serve", "--port", str(port), "--log-level", "info"], "Application startup complete"),
            (["worker", "--concurrency", "1", "--log-level", "info"], "ready."),
            (["beat", "--log-level", "info", "--schedule-file", str(tmp / "beat")], "beat: Starting"),
        ):
            process = Process(args, env, tmp / f"{args[0]}.log", tmp)
            processes.append(process)
            process.wait_for(ready, timeout=90)
        recruiter = make_key(pg_settings, Role.RECRUITER, "care-recruiter")
        reviewer = make_key(pg_settings, Role.REVIEWER, "care-reviewer")
        url = f"http://127.0.0.1:{port}"
        request_ids, submission_ids = [], []
        with httpx.Client(base_url=url, headers={"X-API-Key": recruiter}, timeout=60) as client:
            for i, (name, email) in enumerate(zip(NAMES[:2], EMAILS[:2], strict=True)):
                r = client.post(
                    "/api/v1/submissions",
                    json={
                        "candidate_id": f"care-{i}",
                        "candidate_name": name,
                        "candidate_email": email,
                        "question_id": "q10",
                        "answer": f"自注意力与顺序无关，需要位置编码。{name}",
                    },
                )
                assert r.status_code == 202, r.text
                request_ids.append(r.headers["X-Request-ID"])
                submission_ids.append(r.json()["id"])
            # Invalid input carrying a name: refused, and the refusal is logged without it.
            r = client.post(
                "/api/v1/submissions",
                json={
                    "candidate_id": "care-x",
                    "candidate_name": NAMES[0] * 40,
                    "candidate_email": EMAILS[0],
                    "question_id": "q10",
                    "answer": "x",
                },
            )
            assert r.status_code == 422
            sheet = csv_bytes(
                [
                    ("candidate_id", "candidate_name", "candidate_email", "question_id", "answer"),
                    ("care-b", NAMES[2], EMAILS[2], "q01", "ChatGPT 优点是对话能力强"),
                    ("care-b", NAMES[2], EMAILS[2], "q01", "duplicate row: a row error"),
                    ("care-c", NAMES[2], EMAILS[2], "q99", "unknown question: a row error"),
                ]
            )
            batch = client.post("/api/v1/batches", files={"file": ("care.csv", sheet)}).json()

            def done() -> bool:
                statuses = [client.get(f"/api/v1/submissions/{s}").json()["status"] for s in submission_ids]
                return (
                    all(s not in ("pending", "running") for s in statuses)
                    and client.get(f"/api/v1/batches/{batch['id']}").json()["status"] == "done"
                )

            assert wait_until(done, 90, interval=0.5), processes[1].output()[-3000:]
            for fmt in ("csv", "xlsx", "json"):
                assert client.get(f"/api/v1/batches/{batch['id']}/results", params={"format": fmt}).status_code == 200
        with httpx.Client(base_url=url, headers={"X-API-Key": reviewer}, timeout=60) as client:
            r = client.post(
                f"/api/v1/results/{submission_ids[0]}/review",
                json={"final_score": 77, "comment": "override for the audit test"},
            )
            assert r.status_code == 200, r.text
            metrics = client.get("/metrics")
        yield {
            "processes": processes,
            "request_ids": request_ids,
            "submission_ids": submission_ids,
            "metrics": metrics,
            "url": url,
            "queue": queue,
        }
    finally:
        for process in processes:
            process.stop()


def test_candidate_names_and_emails_never_appear_in_logs(flow: dict) -> None:
    for process in flow["processes"]:
        log = process.output()
        assert len(log) > 100, f"{process.log.name} logged nothing: the check would prove nothing"
        for secret in (*NAMES, *EMAILS, MARK):
            assert secret not in log, f"{secret!r} found in {process.log.name}"


def test_logs_are_json_lines_with_request_ids_that_follow_the_answer_to_the_worker(flow: dict) -> None:
    serve, worker, _beat = flow["processes"]
    for process in flow["processes"]:
        lines = [line for line in process.output().splitlines() if line.strip()]
        # Before logging is configured Python may print a warning (Celery's, when run as root); from the
        # first log record on, every line is one JSON object.
        first = next(i for i, line in enumerate(lines) if line.startswith("{"))
        entries = [json.loads(line) for line in lines[first:]]
        assert all({"ts", "level", "logger", "message", "request_id"} <= set(e) for e in entries)
    access = [
        json.loads(line) for line in serve.output().splitlines() if line.startswith("{") and '"grader.access"' in line
    ]
    assert any(
        e["request_id"] == flow["request_ids"][0] and e["route"] == "/api/v1/submissions" and e["status"] == 202
        for e in access
    )
    worker_ids = {json.loads(line).get("request_id") for line in worker.output().splitlines() if line.startswith("{")}
    assert set(flow["request_ids"]) <= worker_ids, "the worker's lines do not carry the API's request ids"


def test_metrics_in_prometheus_format(flow: dict) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    response = flow["metrics"]
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    latency = families["grader_http_request_duration_seconds"]
    assert any(s.labels.get("route") == "/api/v1/submissions" for s in latency.samples)
    depth = families["grader_queue_depth"]
    assert {s.labels["queue"] for s in depth.samples} == {flow["queue"], flow["queue"] + ".batch"}
    grading = families["grader_grading_duration_seconds"]
    count = next(s.value for s in grading.samples if s.name.endswith("_count"))
    assert count >= 3  # two interactive answers and one batch answer, recorded by the worker process
    statuses = {s.labels["status"]: s.value for s in families["grader_submissions"].samples}
    assert set(statuses) == {"pending", "running", "graded", "failed", "needs_review"}
    assert statuses["graded"] + statuses["needs_review"] >= 3
    for secret in (*NAMES, *EMAILS):
        assert secret not in response.text


def test_overrides_and_key_management_are_in_the_audit_log(flow: dict, pg_settings: Settings) -> None:
    admin = make_key(pg_settings, Role.ADMIN, "care-admin")
    with httpx.Client(base_url=flow["url"], headers={"X-API-Key": admin}, timeout=30) as client:
        created = client.post("/api/v1/keys", json={"name": "care-made", "role": "reviewer"}).json()
        assert client.delete(f"/api/v1/keys/{created['id']}").status_code == 200
    with get_session_factory(pg_settings.database_url)() as session:

        def actions(entity_type: str, entity_id: object) -> list[tuple[str, str]]:
            rows = (
                session.query(AuditEntry)
                .filter(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == str(entity_id))
                .order_by(AuditEntry.id)
            )
            return [(e.action, e.actor) for e in rows]

        assert actions("api_key", created["id"]) == [
            ("api_key.created", "care-admin"),
            ("api_key.revoked", "care-admin"),
        ]
        review = [a for a in actions("submission", flow["submission_ids"][0]) if a[0] == "result.reviewed"]
        assert review == [("result.reviewed", "care-reviewer")]


def test_the_application_cannot_update_or_delete_audit_entries(pg_settings: Settings) -> None:
    factory = get_session_factory(pg_settings.database_url)
    with session_scope(factory) as session:
        session.add(AuditEntry(actor="test", action="test.append", entity_type="test", entity_id="1", details={}))
    with factory() as session:  # ORM: a changed or deleted entry is refused at flush
        entry = session.query(AuditEntry).filter(AuditEntry.action == "test.append").first()
        assert entry is not None
        entry.actor = "forged"
        with pytest.raises(AuditLogIsAppendOnly, match="UPDATE"):
            session.flush()
        session.rollback()
        session.delete(session.get(AuditEntry, entry.id))
        with pytest.raises(AuditLogIsAppendOnly, match="DELETE"):
            session.flush()
        session.rollback()
        for statement in (update(AuditEntry).values(actor="forged"), delete(AuditEntry)):
            with pytest.raises(AuditLogIsAppendOnly, match="bulk"):
                session.execute(statement)
    engine = get_engine(pg_settings.database_url)  # the database itself: raw SQL past the ORM
    for sql in ("UPDATE audit_log SET actor = 'forged'", "DELETE FROM audit_log WHERE action = 'test.append'"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM audit_log WHERE actor = 'forged'")) == 0


def test_keys_are_shown_once_and_stored_hashed(flow: dict, pg_settings: Settings) -> None:
    admin = make_key(pg_settings, Role.ADMIN, "care-admin-2")
    with httpx.Client(base_url=flow["url"], headers={"X-API-Key": admin}, timeout=30) as client:
        created = client.post("/api/v1/keys", json={"name": "care-once", "role": "recruiter"}).json()
        raw = created["key"]
        listed = client.get("/api/v1/keys").text
        assert raw not in listed and "key_hash" not in listed and '"key"' not in listed
        assert client.get("/api/v1/questions", headers={"X-API-Key": raw}).status_code == 200
    with get_engine(pg_settings.database_url).connect() as conn:
        stored = conn.execute(text("SELECT key_hash, prefix FROM api_keys WHERE id = :i"), {"i": created["id"]}).one()
        assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest() and raw.startswith(stored.prefix)
        assert len(stored.prefix) <= 10
        for table in ("api_keys", "audit_log"):  # the key itself is nowhere in the database
            hits = conn.scalar(text(f"SELECT count(*) FROM {table} t WHERE t::text LIKE :raw"), {"raw": f"%{raw}%"})
            assert hits == 0, table
    for process in flow["processes"]:
        assert raw not in process.output()


def test_settings_refuse_the_placeholder_secret_everywhere(tmp_path: Path) -> None:
    Settings()  # the embedded default needs none: it makes its own (tests/security/test_session_secret.py)
    for embedded in ({}, {"database_url": f"sqlite:///{tmp_path}/x.db"}):
        with pytest.raises(ValidationError, match="GRADER_SECRET_KEY"):
            Settings(**embedded, secret_key=DEV_SECRET)  # type: ignore[arg-type]
    strong = secrets.token_hex(32)
    for deployed in ({"redis_url": "redis://127.0.0.1:6379/0"}, {"database_url": "postgresql://u@h/db"}):
        for weak in (DEV_SECRET, "short-secret"):
            with pytest.raises(ValidationError, match="GRADER_SECRET_KEY"):
                Settings(**deployed, secret_key=weak)  # type: ignore[arg-type]
        Settings(**deployed, secret_key=strong)  # type: ignore[arg-type]


def test_a_server_with_redis_and_no_secret_refuses_to_start(tmp_path: Path, pg_settings: Settings) -> None:
    import subprocess

    from tests.support.processes import GRADER

    env = grader_env(database_url=pg_settings.database_url, redis_url=pg_settings.redis_url)
    env.pop("GRADER_SECRET_KEY")
    result = subprocess.run(
        [GRADER, "serve", "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode != 0 and "GRADER_SECRET_KEY" in result.stdout + result.stderr
    assert uuid.UUID(int=0)  # keep uuid imported for the helpers above
