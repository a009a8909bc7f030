"""Question banks end to end with real processes: both public banks imported and published through the
API, answers to them graded by a `grader worker` (Celery on the real Redis, the real Postgres, the real
default embedder) against the version they pinned; a new version leaves old grades alone until an
admin asks for a re-grade, after which the result's history holds both grades. And `grader batch`
grading a sheet of the 100-question bank locally (embedded SQLite)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from grader.db.models import Grade, Role, Submission
from grader.db.session import get_session_factory
from grader.settings import Settings
from tests.support.processes import Process, grader_env, run
from tests.support.services import Server, ServerThread, make_key, migrated_database, wait_until
from tests.support.sheets import csv_bytes

pytestmark = [pytest.mark.services, pytest.mark.slow]

EXTERNAL = Path(__file__).resolve().parents[2] / "eval" / "external"


def answers(bank: str, n: int) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (EXTERNAL / bank / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    return rows[:n]


@pytest.fixture(scope="module")
def settings(redis_url: str) -> Iterator[Settings]:
    """A database of this module's own: the banks it imports do not leak into other tests."""
    with migrated_database("grader_banks_e2e") as url:
        yield Settings(database_url=url, redis_url=redis_url, celery_queue=f"grader-banks-{secrets.token_hex(4)}")


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[Server]:
    with ServerThread(settings) as server:
        yield server


@pytest.fixture(scope="module")
def worker_env(settings: Settings) -> dict[str, str]:
    """The shared `worker` fixture, on this module's own database and queue."""
    return grader_env(
        database_url=settings.database_url, redis_url=settings.redis_url, celery_queue=settings.celery_queue
    )


@pytest.fixture(scope="module")
def admin(settings: Settings) -> str:
    return make_key(settings, Role.ADMIN, "bank-admin")


@pytest.fixture(scope="module")
def imported(api: Server, admin: str) -> dict[str, Any]:
    """Both public banks, each imported and published with one request; the import times are kept."""
    reports: dict[str, Any] = {}
    with api.client(admin) as client:
        for bank, path in (("le", EXTERNAL / "le" / "questions.jsonl"), ("ads", EXTERNAL / "ads" / "bank.md")):
            started = time.perf_counter()
            response = client.post(
                f"/api/v1/banks/{bank}/import",
                params={"publish": True},
                files={"file": (path.name, path.read_bytes())},
                timeout=300,
            )
            assert response.status_code == 201, response.text
            reports[bank] = {**response.json(), "seconds": time.perf_counter() - started}
    print({bank: round(r["seconds"], 1) for bank, r in reports.items()})
    return reports


def poll(client: httpx.Client, submission_id: str, timeout: float = 120) -> dict[str, Any]:
    body: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal body
        body = client.get(f"/api/v1/submissions/{submission_id}").json()
        return body["status"] not in ("pending", "running")

    assert wait_until(finished, timeout, interval=0.2), body
    return body


def submit(client: httpx.Client, question_id: str, answer: str, candidate: str) -> str:
    response = client.post(
        "/api/v1/submissions", json={"candidate_id": candidate, "question_id": question_id, "answer": answer}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def pinned(settings: Settings, submission_id: str) -> str | None:
    with get_session_factory(settings.database_url)() as session:
        found = session.get(Submission, submission_id)
        assert found is not None
        return found.reference_hash


def test_both_public_banks_import_publish_and_grade_end_to_end(
    api: Server, worker: Process, admin: str, settings: Settings, imported: dict[str, Any]
) -> None:
    assert imported["le"]["published"]["version"] == 1 and len(imported["le"]["questions"]) == 100
    assert imported["ads"]["published"]["version"] == 1 and len(imported["ads"]["questions"]) == 15
    with api.client(admin) as client:
        banks = {b["name"]: b for b in client.get("/api/v1/banks").json()}
        assert {"llm", "le", "ads"} <= set(banks) and banks["le"]["questions"] == 100 and banks["le"]["pending"] == 0
        questions = {q["id"]: q for q in client.get("/api/v1/questions").json()}
        assert questions["le-100"]["bank"] == "le" and questions["q01"]["bank"] == "llm"
        ads_ids = [q["question_id"] for q in imported["ads"]["questions"]]
        assert all(q in questions and questions[q]["bank"] == "ads" for q in ads_ids)

        sent = [
            (row, submit(client, row["question_id"], row["answer"], f"le-{i}"))
            for i, row in enumerate(answers("le", 4))
        ]
        # The Markdown bank derives its own ids: answer its first two questions by those.
        for i, qid in enumerate(ads_ids[:2]):
            sent.append(
                (
                    {"question_id": qid},
                    submit(client, qid, "顺序表存储连续，支持随机访问；链表不连续，插入删除方便。", f"ads-{i}"),
                )
            )
        for row, sid in sent:
            body = poll(client, sid)
            assert body["status"] in ("graded", "needs_review"), body
            reference = questions[row["question_id"]]["reference_hash"]
            # Pinned at submit, graded against exactly that version.
            assert pinned(settings, sid) == reference == body["reference_hash"] == body["grade"]["reference_hash"]
            assert 0 <= body["grade"]["score"] <= 100 and body["grade"]["key_points"]


def test_a_new_version_keeps_old_grades_until_an_admin_regrades(
    api: Server, worker: Process, admin: str, settings: Settings, imported: dict[str, Any]
) -> None:
    answer = answers("le", 1)[0]
    qid = answer["question_id"]
    with api.client(admin) as client:
        old_id = submit(client, qid, answer["answer"], "regrade-1")
        old = poll(client, old_id)
        v1_hash = old["grade"]["reference_hash"]

        draft = client.get(f"/api/v1/banks/le/questions/{qid}/draft").json()
        points = draft["key_points"]
        points[0]["text"] = points[0]["text"] + "（修订）"
        points[0]["statements"] = [*points[0]["statements"], "修订后的要点表述"]
        edited = client.put(f"/api/v1/banks/le/questions/{qid}/draft", json={"key_points": points})
        assert edited.status_code == 200, edited.text
        assert edited.json()["key_points"][0]["curated"] is True
        diff = client.get("/api/v1/banks/le/diff").json()
        assert [q["question_id"] for q in diff["questions"]] == [qid]
        published = client.post("/api/v1/banks/le/publish")
        assert published.status_code == 201 and published.json()["version"] == 2, published.text
        v2_hash = client.get(f"/api/v1/questions/{qid}").json()["reference_hash"]
        assert v2_hash != v1_hash

        # Publishing changed no grade: the old answer still shows its v1 grade, and only that one.
        again = client.get(f"/api/v1/submissions/{old_id}").json()
        assert again["grade"] == old["grade"] and pinned(settings, old_id) == v1_hash
        new_id = submit(client, qid, answer["answer"], "regrade-2")
        assert pinned(settings, new_id) == v2_hash and poll(client, new_id)["grade"]["reference_hash"] == v2_hash

        report = client.post("/api/v1/banks/le/regrade", params={"question_id": qid})
        assert report.status_code == 202 and report.json()["queued"] >= 1, report.text
        regraded = poll(client, old_id)
        assert regraded["grade"]["reference_hash"] == v2_hash and pinned(settings, old_id) == v2_hash
        history = client.get(f"/api/v1/results/{old_id}/history").json()
    graded = [h for h in history if h["action"] == "submission.graded"]
    assert [h["details"]["reference_hash"] for h in graded] == [v1_hash, v2_hash]
    with get_session_factory(settings.database_url)() as session:
        hashes = set(session.scalars(select(Grade.reference_hash).where(Grade.submission_id == old_id)))
    assert hashes == {v1_hash, v2_hash}


def test_import_errors_list_every_bad_row_and_write_nothing(api: Server, admin: str) -> None:
    bad = "\n".join(
        [
            json.dumps({"question_id": "bad-1", "question": "", "reference_answer": "x"}),
            json.dumps({"question_id": "bad-2", "question": "ok?", "reference_answer": "fine"}),
            json.dumps({"question": "no answer"}),
        ]
    ).encode()
    with api.client(admin) as client:
        response = client.post("/api/v1/banks/broken/import", files={"file": ("bad.jsonl", bad)})
        assert response.status_code == 422, response.text
        errors = response.json()["error"]["details"]["errors"]
        assert [e["row"] for e in errors] == [1, 3]
        assert client.get("/api/v1/banks/broken").status_code == 404  # nothing half-imported


def test_export_reads_back_unchanged(api: Server, admin: str, imported: dict[str, Any]) -> None:
    with api.client(admin) as client:
        exported = client.get("/api/v1/banks/ads/export")
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/yaml")
        again = client.post(
            "/api/v1/banks/ads/import",
            params={"dry_run": True},
            files={"file": ("ads.yaml", exported.content)},
        )
        assert again.status_code == 200, again.text
        assert {q["status"] for q in again.json()["questions"]} == {"unchanged"}


def test_grader_batch_grades_a_sheet_of_the_le_bank_locally(tmp_path: Path) -> None:
    env = grader_env()  # embedded: ./grader.db in tmp_path
    run(["banks", "import", str(EXTERNAL / "le" / "questions.jsonl"), "--bank", "le", "--publish"], env, tmp_path)
    rows = [("candidate_id", "question_id", "answer")]
    rows += [
        (f"c{i}", row["question_id"].upper() if i == 0 else row["question_id"], row["answer"])
        for i, row in enumerate(answers("le", 5))
    ]
    (tmp_path / "le.csv").write_bytes(csv_bytes(rows))

    run(["batch", str(tmp_path / "le.csv"), "-o", str(tmp_path / "out.json")], env, tmp_path)

    document = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    graded = document["answers"]
    assert [a["question_id"] for a in graded] == [row["question_id"] for row in answers("le", 5)]
    assert all(a["status"] in ("graded", "needs_review") and a["score"] is not None for a in graded)
