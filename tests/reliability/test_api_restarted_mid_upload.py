"""The API process killed in the middle of an upload — while the body streams in, and while the sheet is
being parsed and stored — then restarted: no batch is left half-created, none that is missing answers
looks complete, and the same file uploaded again is graded as a new batch."""

from __future__ import annotations

import socket
import time
import uuid

import httpx
import pytest
import redis
from sqlalchemy import text

from grader.db.models import Role
from grader.db.session import get_engine
from tests.support.services import free_port, make_key, wait_until

from .harness import Stack, answers_csv, key_id_of, kill, report, upload

pytestmark = [pytest.mark.services, pytest.mark.slow]

# Kill points, as a share of the time a whole large upload takes to answer: while parsing, while
# storing, around the commit, after it (the batch committed but maybe not yet dispatched).
KILL_AT = (0.2, 0.5, 0.8, 0.95, 1.1)
LARGE = 6000


def multipart(data: bytes, boundary: str) -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="answers.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )


def start_upload(port: int, key: str, body: bytes, boundary: str, send: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    head = (
        f"POST /api/v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body[:send])
    return sock


def batches_of(stack: Stack, key_id: int) -> list[dict]:
    with get_engine(stack.settings.database_url).connect() as conn:
        rows = (
            conn.execute(
                text("""
            SELECT b.id, b.accepted, b.finished_at,
                   (SELECT count(*) FROM batch_items i WHERE i.batch_id = b.id) AS items
            FROM batches b WHERE b.submitted_by = :k"""),
                {"k": key_id},
            )
            .mappings()
            .all()
        )
        orphans = conn.scalar(
            text("""
            SELECT count(*) FROM submissions s WHERE s.submitted_by = :k
              AND NOT EXISTS (SELECT 1 FROM batch_items i WHERE i.submission_id = s.id)"""),
            {"k": key_id},
        )
    assert orphans == 0, f"{orphans} submissions belong to no batch: a half-created batch"
    return [dict(r) for r in rows]


def test_api_killed_mid_upload_leaves_no_half_created_batch(stack: Stack) -> None:
    key = make_key(stack.settings, Role.RECRUITER, "fault-api-restart")
    key_id = key_id_of(stack.settings, key)
    port = free_port()
    boundary = uuid.uuid4().hex
    small = answers_csv(200, "restart")
    body = multipart(small, boundary)

    # 1. Killed while the body streams in: nothing may exist.
    server = stack.serve(port)
    sock = start_upload(port, key, body, boundary, send=len(body) // 2)
    time.sleep(0.3)
    kill(server)
    sock.close()
    assert batches_of(stack, key_id) == []

    # 2. Killed after the whole body arrived, at several points while it is parsed and stored.
    server = stack.serve(port)
    started = time.monotonic()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=120) as client:
        assert upload(client, answers_csv(LARGE, "measure")).status_code == 202
    whole = time.monotonic() - started
    outcomes = []
    for i, share in enumerate(KILL_AT):
        body_i = multipart(answers_csv(LARGE, f"large{i}"), boundary)  # new content: no re-upload dedup
        if i:
            server = stack.serve(port)
        before = len(batches_of(stack, key_id))
        sock = start_upload(port, key, body_i, boundary, send=len(body_i))
        time.sleep(share * whole)
        kill(server)
        sock.close()
        found = batches_of(stack, key_id)
        outcomes.append({"kill_after_s": round(share * whole, 2), "batch_committed": len(found) > before})
        for batch in found:  # a committed batch is whole; nothing is graded (no worker yet)
            assert batch["items"] == batch["accepted"] == LARGE, batch
            assert batch["finished_at"] is None, batch

    # 3. Restarted: statuses never claim done for ungraded work, and the small file uploads afresh.
    stack.serve(port)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key}, timeout=60) as client:
        for batch in batches_of(stack, key_id):
            status = client.get(f"/api/v1/batches/{batch['id']}").json()
            assert status["status"] != "done" and status["counts"]["pending"] == LARGE, status
        # The large batches' chunks are not this test's subject: drop them so the worker takes the small one.
        redis.Redis.from_url(str(stack.settings.redis_url)).delete(f"{stack.settings.celery_queue}.batch")
        response = upload(client, small)
        assert response.status_code == 202 and response.json()["created"] is True, response.text
        stack.worker()
        batch_id = response.json()["id"]
        assert wait_until(
            lambda: client.get(f"/api/v1/batches/{batch_id}").json()["status"] == "done", 120, interval=0.5
        ), stack.logs()
        done = client.get(f"/api/v1/batches/{batch_id}").json()
    counts = done["counts"]
    report(
        "API killed mid-upload, restarted",
        small_upload_killed_mid_body={"batches_after": 0},
        large_upload_s=round(whole, 2),
        large_upload_killed_while_storing=outcomes,
        reupload={
            "accepted": counts["accepted"],
            "graded": counts["graded"] + counts["needs_review"],
            "lost": counts["pending"],
        },
    )
    assert done["counts"]["accepted"] == 200 and done["counts"]["pending"] == 0
