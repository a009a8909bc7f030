"""Limits that hold before any work is done: body caps enforced before the body is read (413), a call
without a key refused unread (401), per-key rate limits with Retry-After (429) in memory and on Redis,
and the answer-sheet caps that tests/batches/test_parsing.py does not already cover."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from grader.batches.parsing import Limits, parse_sheet
from grader.errors import UnreadableSheet, UploadTooLarge
from grader.settings import Settings
from grader.web.limits import MemoryBuckets, RedisBuckets
from tests.support.services import Keys, Server, ServerThread
from tests.support.sheets import csv_bytes, xlsx_bytes

pytestmark = [pytest.mark.services]

QUESTIONS = {"q01": "说一下 chatgpt 的优缺点", "q02": "简述一下 transformer 的基本流程"}


def raw_request(url: str, head: str, body: bytes = b"", wait: float = 5.0) -> tuple[float, bytes]:
    """Send a request's head (and maybe part of its body) and read what comes back; returns the time it
    took to answer and the raw response."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.settimeout(wait)
        started = time.monotonic()
        sock.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.find(b"\r\n\r\n") + 20:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return time.monotonic() - started, data


def test_a_declared_body_over_the_cap_is_refused_before_it_is_sent(open_api: Server, keys: Keys) -> None:
    head = (
        "POST /api/v1/submissions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-API-Key: {keys.recruiter}\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n"
    )
    took, response = raw_request(open_api.url, head)  # not one byte of the 50 MB is sent

    assert response.startswith(b"HTTP/1.1 413"), response[:300]
    assert b'"request_too_large"' in response and took < 3


def test_an_upload_declared_over_the_sheet_cap_is_refused_before_it_is_sent(open_api: Server, keys: Keys) -> None:
    head = (
        "POST /api/v1/batches HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"X-API-Key: {keys.recruiter}\r\nContent-Length: {200 * 1024 * 1024}\r\n\r\n"
    )
    took, response = raw_request(open_api.url, head)

    assert response.startswith(b"HTTP/1.1 413"), response[:300]
    assert b'"upload_too_large"' in response and took < 3


def test_without_a_key_a_body_is_refused_unread(open_api: Server) -> None:
    head = (
        "POST /api/v1/batches HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        "Content-Length: 1000000\r\n\r\n"
    )
    took, response = raw_request(open_api.url, head, body=b"--b\r\n")

    assert response.startswith(b"HTTP/1.1 401"), response[:300]
    assert took < 3


def test_a_streamed_body_without_length_is_cut_off_at_the_cap(open_api: Server, keys: Keys) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"candidate_id": "c1", "question_id": "q01", "answer": "'
        for _ in range(64):  # 4 MB in 64 KB chunks, no Content-Length (chunked transfer)
            sent += 65536
            yield b"a" * 65536
        yield b'"}'

    with httpx.Client(base_url=open_api.url, headers={"X-API-Key": keys.recruiter}, timeout=30) as client:
        try:
            response = client.post(
                "/api/v1/submissions", content=chunks(), headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError:
            return  # the server closed the connection mid-stream: refused, which is the point
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_body_just_under_the_cap_is_read_and_judged(open_api: Server, keys: Keys) -> None:
    answer = "长" * 10_001  # 30 KB: under the body cap, over the answer cap
    with httpx.Client(base_url=open_api.url, headers={"X-API-Key": keys.recruiter}, timeout=30) as client:
        response = client.post(
            "/api/v1/submissions", json={"candidate_id": "c", "question_id": "q01", "answer": answer}
        )
    assert response.status_code == 422 and "10,000" in response.json()["error"]["message"]


# --- rate limits -------------------------------------------------------------------------------------------


def _burst(url: str, key: str | None, n: int, path: str = "/api/v1/questions") -> list[httpx.Response]:
    headers = {"X-API-Key": key} if key else {}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        return [client.get(path) for _ in range(n)]


def _assert_limited(responses: list[httpx.Response], burst: int) -> None:
    codes = [r.status_code for r in responses]
    assert codes[:burst] == [200] * burst, codes
    assert 429 in codes[burst:], codes
    limited = next(r for r in responses if r.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"


def test_rate_limit_per_key_in_memory_in_embedded_mode(tmp_path: Path, pg_settings: Settings) -> None:
    from grader.db.models import Role
    from tests.support.services import make_key

    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'g.db'}", embedder="hash", rate_limit_per_second=0.5, rate_limit_burst=3
    )
    with ServerThread(settings) as server:
        first, second = make_key(settings, Role.RECRUITER, "a"), make_key(settings, Role.RECRUITER, "b")
        _assert_limited(_burst(server.url, first, 5), burst=3)
        assert [r.status_code for r in _burst(server.url, second, 3)] == [200, 200, 200]  # its own bucket
        assert {r.status_code for r in _burst(server.url, None, 3, "/healthz")} == {200}  # probes exempt


def test_rate_limit_is_shared_through_redis_by_every_api_process(pg_settings: Settings, keys: Keys) -> None:
    settings = pg_settings.model_copy(
        update={"rate_limit_per_second": 0.5, "rate_limit_burst": 4, "celery_queue": pg_settings.celery_queue + "-rl"}
    )
    with ServerThread(settings) as one, ServerThread(settings) as two:
        codes = [
            r.status_code
            for url in (one.url, two.url, one.url, two.url, one.url, two.url)
            for r in _burst(url, keys.reviewer, 1)
        ]
    assert codes[:4] == [200] * 4 and codes[4:] == [429, 429], codes


def test_the_redis_limiter_falls_back_to_memory_when_redis_is_away() -> None:
    buckets = RedisBuckets("redis://127.0.0.1:1/0", "t", rate=0.5, burst=2)  # nothing listens on port 1
    waits = [buckets.take("k") for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and waits[2] > 0  # still limited, not refused, not unlimited


def test_memory_buckets_refill_at_the_rate() -> None:
    buckets = MemoryBuckets(rate=20, burst=1)
    assert buckets.take("k") == 0 and buckets.take("k") > 0
    time.sleep(0.06)
    assert buckets.take("k") == 0


# --- answer sheet caps not covered in tests/batches --------------------------------------------------------


def test_a_csv_nul_character_past_the_first_8_kb_is_refused() -> None:
    data = ("candidate_id,question_id,answer\n" + "c0,q01," + "x" * 9000 + "\nc1,q01,ab\x00cd\n").encode()
    with pytest.raises(UnreadableSheet, match="NUL character on line 3"):
        parse_sheet(data, QUESTIONS)


def test_a_csv_row_wider_than_the_column_cap_is_refused_but_trailing_empty_cells_are_not() -> None:
    limits = Limits(max_columns=8)
    wide = csv_bytes([("candidate_id", "question_id", "answer"), ("c1", "q01", "答案", *["x"] * 10)])
    with pytest.raises(UploadTooLarge, match="more than 8 columns"):
        parse_sheet(wide, QUESTIONS, limits=limits)
    padded = csv_bytes([("candidate_id", "question_id", "answer", *[""] * 20), ("c1", "q01", "答案", *[""] * 20)])
    assert len(parse_sheet(padded, QUESTIONS, limits=limits).answers) == 1


@pytest.mark.parametrize("make", [csv_bytes, lambda rows: xlsx_bytes(("s", rows))], ids=["csv", "xlsx"])
def test_row_and_cell_caps_hold_for_csv_and_xlsx(make) -> None:
    rows = [("candidate_id", "question_id", "answer")] + [(f"c{i}", "q01", "答案") for i in range(30)]
    with pytest.raises(UploadTooLarge, match="more than 20 rows"):
        parse_sheet(make(rows), QUESTIONS, limits=Limits(max_rows=20))
    with pytest.raises(UploadTooLarge, match="more than 50 filled cells"):
        parse_sheet(make(rows), QUESTIONS, limits=Limits(max_cells=50))
    blank = [rows[0], *[("", "", "")] * 40, rows[1]]  # rows are counted blank or not
    with pytest.raises(UploadTooLarge, match="more than 20 rows"):
        parse_sheet(make(blank), QUESTIONS, limits=Limits(max_rows=20))


@pytest.mark.parametrize("make", [csv_bytes, lambda rows: xlsx_bytes(("s", rows))], ids=["csv", "xlsx"])
def test_over_long_cells_are_row_errors_and_the_other_rows_are_kept(make) -> None:
    rows = [
        ("candidate_id", "candidate_name", "candidate_email", "question_id", "answer"),
        ("c1", "名" * 201, "", "q01", "答案一"),
        ("c2", "", "e" * 250 + "@x.cn", "q01", "答案二"),
        ("c3", "", "", "q01", "长" * 10_001),
        ("c" * 129, "", "", "q01", "答案四"),
        ("c5", "", "", "q02", "答案五"),
    ]
    sheet = parse_sheet(make(rows), QUESTIONS)
    assert [a.candidate_id for a in sheet.answers] == ["c5"]
    assert sorted(e.row for e in sheet.errors) == [2, 3, 4, 5]


def test_an_upload_whose_filename_holds_control_characters_is_not_a_500(open_api: Server, keys: Keys) -> None:
    data = csv_bytes([("candidate_id", "question_id", "answer"), ("ctl-1", "q01", "RLHF 是基于人类反馈的强化学习")])
    with httpx.Client(base_url=open_api.url, headers={"X-API-Key": keys.recruiter}, timeout=30) as client:
        response = client.post("/api/v1/batches", files={"file": ("a\x00b\x01.csv", data)})
    assert response.status_code in (202, 422), response.text


def test_requests_past_the_concurrency_limit_wait_then_get_503_with_retry_after() -> None:
    import asyncio

    from grader.web.limits import ConcurrencyLimitMiddleware

    async def slow_app(scope, receive, send) -> None:
        await asyncio.sleep(0.3)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def call(app, path: str = "/api/v1/x") -> tuple[int, dict[bytes, bytes]]:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        async def receive() -> dict:
            return {"type": "http.request", "body": b""}

        await app({"type": "http", "path": path, "headers": []}, receive, send)
        return sent[0]["status"], dict(sent[0]["headers"])

    async def main() -> list[tuple[int, dict[bytes, bytes]]]:
        app = ConcurrencyLimitMiddleware(slow_app, limit=2, wait=0.1)
        return await asyncio.gather(*(call(app) for _ in range(3)), call(app, "/healthz"))

    results = asyncio.run(main())
    statuses = sorted(status for status, _ in results[:3])
    assert statuses == [200, 200, 503]  # two admitted, one turned away after waiting 0.1 s
    assert next(h for s, h in results[:3] if s == 503)[b"retry-after"] == b"1"
    assert results[3][0] == 200  # liveness is never queued


def test_a_bank_import_gets_the_upload_cap_and_other_bank_requests_the_json_cap() -> None:
    from grader.web.limits import BodyLimitMiddleware

    limits = BodyLimitMiddleware(lambda *_: None, default=1024, uploads=10 * 1024)  # type: ignore[arg-type]
    assert limits.limit_for({"method": "POST", "path": "/api/v1/banks/le/import"}) == 10 * 1024
    assert limits.limit_for({"method": "POST", "path": "/api/v1/batches"}) == 10 * 1024
    assert limits.limit_for({"method": "PUT", "path": "/api/v1/banks/le/questions/le-001/draft"}) == 1024
    assert limits.limit_for({"method": "POST", "path": "/api/v1/banks/le/import/x"}) == 1024


def test_a_bank_import_declared_over_the_cap_is_refused_before_it_is_sent(open_api: Server, keys: Keys) -> None:
    head = (
        "POST /api/v1/banks/le/import HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        f"X-API-Key: {keys.admin}\r\nContent-Length: {200 * 1024 * 1024}\r\n\r\n"
    )
    took, response = raw_request(open_api.url, head)

    assert response.startswith(b"HTTP/1.1 413"), response[:300]
    assert b'"upload_too_large"' in response and took < 3
