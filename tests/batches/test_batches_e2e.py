"""Batches end to end: real HTTP uploads, the real Postgres, Redis and a `grader worker` subprocess
with the real embedder. No eager mode."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from grader.batches.uploads import CHUNK_SIZE
from grader.db.batch_models import Batch, BatchItem
from grader.db.models import Grade, Role, Submission
from grader.db.session import get_session_factory
from tests.support.processes import Process, grader_env, run
from tests.support.services import Server, make_key, wait_until
from tests.support.sheets import LONG_ROWS, QUESTIONS, csv_bytes, xlsx_bytes

pytestmark = [pytest.mark.services, pytest.mark.slow]

DONE_WITHIN = 120.0  # seconds; includes the worker loading its model on the first batch


def upload(client, data: bytes, name: str = "answers.csv", **params):
    return client.post("/api/v1/batches", params=params, files={"file": (name, data)})


def wait_done(client, batch_id: str, timeout: float = DONE_WITHIN) -> dict:
    body: dict = {}

    def done() -> bool:
        nonlocal body
        body = client.get(f"/api/v1/batches/{batch_id}").json()
        return body["status"] == "done"

    assert wait_until(done, timeout, interval=0.3), body
    return body


def answers_sheet(n: int, tag: str) -> bytes:
    rows = [("candidate_id", "question_id", "answer")]
    rows += [
        (
            f"{tag}-{i // 12}",
            f"q{i % 12 + 1:02d}",
            f"RLHF 基于人类反馈的强化学习，位置编码提供顺序信息 {tag} {i}",
        )
        for i in range(n)
    ]
    return csv_bytes(rows)


def test_gbk_csv_with_bad_rows_is_graded_end_to_end(api: Server, worker: Process, recruiter: str) -> None:
    rows = [
        *LONG_ROWS,
        ("c003", "王五", "", "q99", "不存在的题"),  # row 6: unknown question
        ("c003", "王五", "", "q03", ""),  # row 7: empty
        ("c003", "王五", "", "q06", '=HYPERLINK("http://x","温度") 温度系数越高越随机'),
    ]
    with api.client(recruiter) as client:
        response = upload(client, csv_bytes(rows, encoding="gbk"))

        assert response.status_code == 202, response.text
        batch = response.json()
        assert response.headers["Location"] == f"/api/v1/batches/{batch['id']}"
        assert (batch["created"], batch["file_format"], batch["layout"], batch["encoding"]) == (
            True,
            "csv",
            "long",
            "gb18030",
        )
        assert batch["counts"]["accepted"] == 5 and batch["counts"]["rejected"] == 2
        assert [(e["row"], e["code"]) for e in batch["row_errors"]] == [
            (6, "unknown_question"),
            (7, "empty_answer"),
        ]

        status = wait_done(client, batch["id"])
        assert status["progress"] == 1.0 and status["eta_seconds"] is None
        counts = status["counts"]
        assert counts["pending"] == 0 and counts["graded"] + counts["needs_review"] == 5, worker.output()[-3000:]

        answers = client.get(f"/api/v1/batches/{batch['id']}/results", params={"format": "csv"})
        summary = client.get(f"/api/v1/batches/{batch['id']}/results", params={"format": "csv", "view": "summary"})
        workbook = client.get(f"/api/v1/batches/{batch['id']}/results", params={"format": "xlsx"})
        document = client.get(f"/api/v1/batches/{batch['id']}/results", params={"format": "json"}).json()

    assert answers.content.startswith(b"\xef\xbb\xbf")
    assert answers.headers["content-type"].startswith("text/csv")
    every_row = list(csv.DictReader(io.StringIO(answers.content.decode("utf-8-sig"))))
    assert [(r["row"], r["candidate_id"], r["question_id"], r["status"]) for r in every_row if r["error"]] == [
        ("6", "c003", "q99", "rejected"),
        ("7", "c003", "q03", "rejected"),
    ]
    assert "unknown question 'q99'" in every_row[4]["error"] and "empty" in every_row[5]["error"]
    table = [r for r in every_row if r["status"] != "rejected"]
    assert [(r["row"], r["candidate_id"], r["question_id"]) for r in table] == [
        ("2", "c001", "q01"),
        ("3", "c001", "q02"),
        ("4", "c002", "q01"),
        ("5", "c002", "q10"),
        ("8", "c003", "q06"),
    ]
    assert all(0 <= float(r["score"]) <= 100 and r["feedback"] and r["answer"] and r["question"] for r in table)
    assert table[4]["answer"].startswith("'=HYPERLINK")  # escaped like every text cell
    per_candidate = list(csv.DictReader(io.StringIO(summary.content.decode("utf-8-sig"))))
    assert [r["candidate_id"] for r in per_candidate] == ["c001", "c002", "c003"]
    assert float(per_candidate[0]["total"]) == pytest.approx(
        float(table[0]["score"]) + float(table[1]["score"]), abs=0.11
    )
    sheets = load_workbook(io.BytesIO(workbook.content))
    assert sheets.sheetnames == ["answers", "summary"]
    assert all(c.data_type != "f" for ws in sheets for row in ws.iter_rows() for c in row)
    assert len(document["answers"]) == 7 and len(document["summary"]) == 3
    assert [a["row"] for a in document["answers"] if a["status"] == "rejected"] == [6, 7]

    # Each answer is an ordinary submission with its grade in Postgres.
    sessions = get_session_factory(api.settings.database_url)
    with sessions() as session:
        ids = list(session.scalars(select(BatchItem.submission_id).where(BatchItem.batch_id == uuid.UUID(batch["id"]))))
        statuses = set(session.scalars(select(Submission.status).where(Submission.id.in_(ids))))
        grades = session.scalar(select(func.count()).select_from(Grade).where(Grade.submission_id.in_(ids)))
    assert len(ids) == 5 and statuses <= {"graded", "needs_review"} and grades == 5


def test_the_same_file_again_returns_the_existing_batch_unless_forced(
    api: Server, worker: Process, recruiter: str
) -> None:
    data = answers_sheet(3, "again")
    with api.client(recruiter) as client:
        first = upload(client, data)
        again = upload(client, data, name="renamed.csv")
        forced = upload(client, data, force="true")

    assert first.status_code == 202
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"] and not again.json()["created"]
    assert forced.status_code == 202 and forced.json()["id"] != first.json()["id"]


def test_wide_xlsx_with_question_texts_as_headers(api: Server, worker: Process, recruiter: str) -> None:
    rows = [
        ("姓名", "邮箱", QUESTIONS["q06"], "Q7", "q10"),
        (
            "张三",
            "z@example.com",
            "温度系数控制采样随机性，越高越多样",
            "RoPE 用旋转矩阵编码相对位置",
            "自注意力与顺序无关，需要位置编码",
        ),
        ("李四", "l@example.com", "不知道", None, "位置编码给每个位置一个向量"),
    ]
    with api.client(recruiter) as client:
        response = upload(client, xlsx_bytes(("答卷", rows)), name="答卷.xlsx")
        assert response.status_code == 202, response.text
        batch = response.json()
        assert (batch["file_format"], batch["layout"], batch["sheet_name"], batch["encoding"]) == (
            "xlsx",
            "wide",
            "答卷",
            None,
        )
        assert [(e["row"], e["column"], e["code"]) for e in batch["row_errors"]] == [(3, "Q7", "empty_answer")]
        status = wait_done(client, batch["id"])

    assert status["counts"]["accepted"] == 5 and status["counts"]["pending"] == 0


@pytest.mark.parametrize(
    ("data", "name", "status", "code"),
    [
        (
            b"candidate_id,question_id,answer\n" + b"c1,q01," + "答".encode() * 7_500_000 + b"\n",
            "big.csv",
            413,
            "upload_too_large",
        ),
        ("这不是表格\n只是一段话\n".encode(), "note.csv", 422, "unreadable_sheet"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1000), "old.xls", 422, "unreadable_sheet"),
        (b"name,salary\nzhang,100\n", "hr.csv", 422, "unreadable_sheet"),
    ],
)
def test_refused_uploads_are_4xx_in_the_error_shape(
    api: Server, recruiter: str, data: bytes, name: str, status: int, code: str
) -> None:
    with api.client(recruiter) as client:
        response = upload(client, data, name=name)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]


def test_upload_without_a_file_is_422(api: Server, recruiter: str) -> None:
    with api.client(recruiter) as client:
        response = client.post("/api/v1/batches", data={"x": "y"})
    assert response.status_code == 422


def test_batches_are_private_to_their_recruiter(api: Server, worker: Process, recruiter: str) -> None:
    other = make_key(api.settings, Role.RECRUITER, "other-recruiter")
    reviewer = make_key(api.settings, Role.REVIEWER, "batch-reviewer")
    with api.client(recruiter) as client:
        batch_id = upload(client, answers_sheet(2, "private")).json()["id"]
    with api.client(other) as client:
        assert client.get(f"/api/v1/batches/{batch_id}").status_code == 404
        assert client.get(f"/api/v1/batches/{batch_id}/results").status_code == 404
    with api.client(reviewer) as client:
        assert client.get(f"/api/v1/batches/{batch_id}").status_code == 200
        assert upload(client, answers_sheet(1, "reviewer")).status_code == 403
    with api.client() as client:
        assert client.get(f"/api/v1/batches/{batch_id}").status_code == 401


def test_an_interactive_submission_is_not_stuck_behind_a_batch(api: Server, worker: Process, recruiter: str) -> None:
    # Judged on the server's own grading times, not on what a poll happened to see: with a fast worker a
    # 150-answer batch could finish between the walk-in's grade and the next look (`'done' == 'running'`).
    # Twenty chunks, so that two or more are still queued behind the ones in hand when the walk-in comes: on
    # an idle machine a chunk takes a fifth of a second and the pool grades two at once, so five chunks could
    # be nearly done before the walk-in is sent (CI saw 25 graded after it).
    size = 20 * CHUNK_SIZE
    with api.client(recruiter) as client:
        batch_id = upload(client, answers_sheet(size, "big")).json()["id"]

        running: dict = {}

        def moving() -> bool:
            nonlocal running
            running = client.get(f"/api/v1/batches/{batch_id}").json()
            return running["counts"]["pending"] < size - 10

        assert wait_until(moving, DONE_WITHIN, interval=0.3), worker.output()[-3000:]
        started = time.monotonic()
        submission = client.post(
            "/api/v1/submissions",
            json={"candidate_id": "walk-in", "question_id": "q06", "answer": "温度系数越高，采样越随机"},
        ).json()

        def graded() -> bool:
            body = client.get(f"/api/v1/submissions/{submission['id']}").json()
            return body["status"] not in ("pending", "running")

        assert wait_until(graded, 20, interval=0.1)
        waited = time.monotonic() - started
        final = wait_done(client, batch_id, timeout=300)

    with get_session_factory(api.settings.database_url)() as session:
        walk_in_graded = session.scalar(
            select(Submission.graded_at).where(Submission.id == uuid.UUID(submission["id"]))
        )
        graded_after = session.scalar(
            select(func.count())
            .select_from(BatchItem)
            .join(Submission, Submission.id == BatchItem.submission_id)
            .where(BatchItem.batch_id == uuid.UUID(batch_id), Submission.graded_at > walk_in_graded)
        )
    # It waited for at most the chunk in hand (CHUNK_SIZE answers), not for the answers still queued:
    # at least two whole chunks of the batch were graded after it.
    assert waited < 8, waited
    assert (graded_after or 0) >= 2 * CHUNK_SIZE, (graded_after, size)
    assert running["status"] == "running" and 0 < running["progress"] < 1
    assert running["eta_seconds"] is not None and running["answers_per_second"] > 0
    assert final["counts"]["pending"] == 0


def test_cli_grades_a_sheet_on_the_server(api: Server, worker: Process, recruiter: str, tmp_path) -> None:
    sheet = tmp_path / "answers.csv"
    sheet.write_bytes(csv_bytes(LONG_ROWS[:3], encoding="gbk"))

    result = run(
        [
            "batch",
            str(sheet),
            "-o",
            str(tmp_path / "out.csv"),
            "--server",
            api.url,
            "--api-key",
            recruiter,
            "--poll",
            "0.3",
        ],
        grader_env(),
        tmp_path,
    )

    assert "encoding gb18030" in result.stderr
    answers = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_bytes().decode("utf-8-sig"))))
    assert [(r["candidate_id"], r["question_id"]) for r in answers] == [("c001", "q01"), ("c001", "q02")]
    assert all(r["status"] in ("graded", "needs_review") for r in answers)
    summary = (tmp_path / "out-summary.csv").read_bytes().decode("utf-8-sig")
    assert summary.splitlines()[1].startswith("c001,张三")


def test_cli_grades_a_sheet_locally(tmp_path) -> None:
    sheet = tmp_path / "answers.xlsx"
    sheet.write_bytes(
        xlsx_bytes(("s", [("候选人", "题号", "答案"), ("c1", "q06", "温度越高越随机"), ("c1", "q99", "x")]))
    )

    result = run(["batch", str(sheet), "-o", str(tmp_path / "out.json")], grader_env(), tmp_path)

    assert "row 3: unknown question 'q99'" in result.stderr
    document = json.loads((tmp_path / "out.json").read_text())
    [answer, refused] = document["answers"]
    assert answer["question_id"] == "q06" and answer["status"] in ("graded", "needs_review")
    assert answer["answer"] == "温度越高越随机" and answer["question"]
    assert (refused["row"], refused["status"], refused["error"]) == (3, "rejected", "unknown question 'q99'")
    assert document["summary"][0]["candidate_id"] == "c1"
    # Through the batch use case on the embedded database (migrated as `grader serve` does): the batch and its
    # graded answer are stored as the server stores them, so they show on the dashboard for review.
    with get_session_factory(f"sqlite:///{tmp_path / 'grader.db'}")() as session:
        [stored] = session.scalars(select(Submission)).all()
        assert (stored.question_id, stored.status) == ("q06", answer["status"])
        assert session.scalar(select(func.count()).select_from(Batch)) == 1
