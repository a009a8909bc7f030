"""Migration 0005 on SQLite and Postgres: a fresh database gets the default bank; a database that
graded before banks keeps its questions, versions and grades and adopts them; and the bank use cases
run on Postgres as on SQLite."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grader.db.migrate import PROJECT_ROOT, alembic_config
from grader.db.models import Submission
from grader.errors import Conflict, InvalidBankFile, NothingToPublish
from grader.keys.principal import CLI
from grader.questions import banks
from grader.scoring.signals import Signals
from grader.scoring.types import Reference

from .conftest import postgres_database, session_for
from .test_documents import LE

# What 0005 loads and 0007 adopts: frozen beside the migrations, not today's YAML or shipped calibration.
VERSIONS = PROJECT_ROOT / "migrations" / "versions"
FROZEN_BANK = json.loads((VERSIONS / "0005_banks.json").read_text(encoding="utf-8"))
FROZEN_SHIPPED = json.loads((VERSIONS / "0007_label_model.json").read_text(encoding="utf-8"))
DEFAULT = {
    q["id"]: Reference.model_validate({k: q[k] for k in ("id", "question", "reference_answer", "key_points")})
    for q in FROZEN_BANK["questions"]
}
FROZEN_HASHES = {q["id"]: q["content_hash"] for q in FROZEN_BANK["questions"]}
# What 0013 publishes as version 2 over an untouched version 1: q06's new key points, frozen beside it.
FROZEN_V2 = json.loads((VERSIONS / "0013_llm_bank_v2.json").read_text(encoding="utf-8"))
Q06_V2 = Reference.model_validate(
    {k: FROZEN_V2["question"][k] for k in ("id", "question", "reference_answer", "key_points")}
)
DEFAULT_V2 = {**DEFAULT, "q06": Q06_V2}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'grader.db'}"
    else:
        with postgres_database("grader_banks_migrate") as url:
            yield url


def test_upgrade_on_a_database_that_graded_before_banks(empty_url: str) -> None:
    command.upgrade(alembic_config(empty_url), "0004")
    q01, q01_hash = DEFAULT["q01"], FROZEN_HASHES["q01"]
    with session_for(empty_url) as session:  # as the service stored them, in the 0004 schema
        session.execute(
            text(
                "INSERT INTO questions (id, text, current_hash, updated_at) "
                "VALUES ('q01', :text, :hash, CURRENT_TIMESTAMP)"
            ),
            {"text": q01.question, "hash": q01_hash},
        )
        session.execute(
            text(
                "INSERT INTO reference_versions (question_id, content_hash, reference_answer, "
                "key_points, created_at) VALUES ('q01', :hash, :answer, :kps, CURRENT_TIMESTAMP)"
            ),
            {
                "hash": q01_hash,
                "answer": q01.reference_answer,
                "kps": json.dumps(q01.model_dump(mode="json")["key_points"]),
            },
        )
        session.execute(
            text(
                "INSERT INTO submissions (id, candidate_id, question_id, answer, status, attempts, "
                "created_at, updated_at) VALUES (:id, 'c1', 'q01', 'answer', 'pending', 0, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"id": uuid.uuid4().hex if empty_url.startswith("sqlite") else str(uuid.uuid4())},
        )
        session.commit()

    command.upgrade(alembic_config(empty_url), "head")
    with session_for(empty_url) as session:
        assert banks.published_references(session, "llm").references == DEFAULT_V2
        submission = session.scalars(select(Submission)).one()
        assert submission.reference_hash is None  # submitted before pinning
        submission.reference_hash = q01_hash  # pinning names an existing version...
        session.commit()
        submission.reference_hash = "0" * 16  # ...and nothing else
        with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
            session.commit()
        session.rollback()

    command.downgrade(alembic_config(empty_url), "0004")
    command.upgrade(alembic_config(empty_url), "head")


def test_the_untouched_default_bank_gets_version_2_and_gives_it_back_on_downgrade(empty_url: str) -> None:
    command.upgrade(alembic_config(empty_url), "head")
    with session_for(empty_url) as session:
        assert [(v.version, v.published_by) for v in banks.list_versions(session, "llm")] == [
            (1, "migration 0005"),
            (2, "migration 0013"),
        ]
        published = banks.published_references(session, "llm")
        assert published.references == DEFAULT_V2 and published.references["q06"].content_hash == Q06_V2.content_hash
        assert not any(q.pending for q in banks.list_questions(session, "llm"))
        with pytest.raises(NothingToPublish):  # the drafts are version 2: nothing pending
            banks.publish_bank(session, "llm", actor=CLI)
        session.rollback()
    command.downgrade(alembic_config(empty_url), "0012")
    with session_for(empty_url) as session:
        assert [v.version for v in banks.list_versions(session, "llm")] == [1]
        assert banks.published_references(session, "llm").references == DEFAULT
        assert not any(q.pending for q in banks.list_questions(session, "llm"))
        with pytest.raises(NothingToPublish):  # the drafts went back with it
            banks.publish_bank(session, "llm", actor=CLI)


def test_a_default_bank_an_admin_changed_is_left_as_they_left_it(empty_url: str) -> None:
    command.upgrade(alembic_config(empty_url), "0012")
    with session_for(empty_url) as session:  # an admin edits q06 in the drafts without publishing
        session.execute(
            text("UPDATE bank_questions SET key_points = :kps, draft_hash = 'edited' WHERE question_id = 'q06'"),
            {"kps": json.dumps([])},
        )
        session.commit()
    command.upgrade(alembic_config(empty_url), "head")
    with session_for(empty_url) as session:
        assert [v.version for v in banks.list_versions(session, "llm")] == [1]
        assert banks.published_references(session, "llm").references == DEFAULT
        draft = session.execute(text("SELECT draft_hash FROM bank_questions WHERE question_id = 'q06'")).scalar_one()
        assert draft == "edited"


@pytest.mark.services
def test_bank_use_cases_on_postgres(bank_pg_url: str) -> None:
    with session_for(bank_pg_url) as session:
        assert [b.name for b in banks.list_banks(session)] == ["llm"]
        report = banks.import_bank(
            session, "le", LE.joinpath("questions.jsonl").read_bytes(), "q.jsonl", actor=CLI, publish=True
        )
        session.commit()
        assert report.published is not None
    with session_for(bank_pg_url) as session:
        refs = banks.published_references(session, "le").references
        assert len(refs) == 100
        assert banks.export_bank(session, "le").count("\n- id: le-") == 100
        assert banks.references_by_hash(session, [("le-100", refs["le-100"].content_hash)])
        _no_nothing_half_imported(session)


def _no_nothing_half_imported(session: Session) -> None:
    bad = LE.joinpath("questions.jsonl").read_bytes() + b'{"question_id": "le-101", "question": ""}\n'
    before = banks.list_questions(session, "le")
    with pytest.raises(InvalidBankFile, match="row 101"):
        banks.import_bank(session, "le", bad, "q.jsonl", actor=CLI)
    session.rollback()
    assert banks.list_questions(session, "le") == before


@pytest.mark.services
def test_two_admins_publishing_at_once_on_postgres_one_gets_a_conflict(bank_pg_url: str) -> None:
    jsonl = (
        b'{"question_id": "race-1", "question": "\\u4ec0\\u4e48\\u662f\\u6808\\uff1f", '
        b'"reference_answer": "\\u540e\\u8fdb\\u5148\\u51fa\\u7684\\u7ebf\\u6027\\u8868\\u3002"}\n'
    )
    with session_for(bank_pg_url) as session:
        banks.import_bank(session, "race", jsonl, "q.jsonl", actor=CLI)
        session.commit()
    outcome: dict[str, object] = {}
    with session_for(bank_pg_url) as first, session_for(bank_pg_url) as second:
        banks.publish_bank(first, "race", actor=CLI)  # holds its rows until it commits

        def publish_second() -> None:
            try:
                outcome["report"] = banks.publish_bank(second, "race", actor=CLI)
            except Exception as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=publish_second)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive()  # waiting on the first publish's rows
        first.commit()
        thread.join(timeout=30)
        second.rollback()
    assert isinstance(outcome.get("error"), Conflict), outcome
    with session_for(bank_pg_url) as session:
        assert [v.version for v in banks.list_versions(session, "race")] == [1]


def test_upgrade_adopts_the_label_model_into_a_bank_calibration_fitted_before_it(empty_url: str) -> None:
    """A published bank calibration of the earlier shape (two error classifiers, no label model) would no
    longer load, and its bank could not be graded: migration 0007 keeps its ranking model and adopts the
    shipped label model (as frozen beside the migration). The stored calibration is a fixture of that time
    (`data/calibration_before_label_model.json`), not today's shipped one with its label model taken out."""
    from grader.questions.calibrations import bank_calibration
    from grader.scoring.calibration import final_score

    old = json.loads((Path(__file__).parent / "data" / "calibration_before_label_model.json").read_text())
    command.upgrade(alembic_config(empty_url), "0006")
    with session_for(empty_url) as session:
        session.execute(
            text(
                "INSERT INTO calibration_versions (bank_id, version, digest, params, source, created_at, "
                "published_at, published_by) SELECT id, 1, 'old', :params, 'reviews', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, 'admin' FROM banks WHERE name = 'llm'"
            ),
            {"params": json.dumps(old)},
        )
        session.commit()

    command.upgrade(alembic_config(empty_url), "head")
    with session_for(empty_url) as session:
        info = bank_calibration(session, "llm")
        stored = session.execute(text("SELECT params FROM calibration_versions")).scalar_one()
    assert info is not None
    adopted = info.calibration
    assert adopted.coef == old["coef"] and adopted.label_coef == FROZEN_SHIPPED["label_coef"]
    assert adopted.version.startswith("1.1+usem3+") and adopted.version != old["version"]
    params = json.loads(stored) if isinstance(stored, str) else stored
    canonical = json.dumps(params, sort_keys=True, ensure_ascii=False).encode("utf-8")
    assert info.digest == hashlib.sha256(canonical).hexdigest()[:16]  # the digest of what it stored
    assert "adopted from shipped" in adopted.fitted_on
    signals = _an_answer_signals()
    stricter = adopted.model_copy(update={"coef": [adopted.coef[0] - 1.0, *adopted.coef[1:]]})
    assert adopted.ranking_score(signals) > stricter.ranking_score(signals) + 5  # its own ranking model, kept
    assert 0.0 <= final_score(adopted, signals) <= 100.0


def _an_answer_signals() -> Signals:
    return Signals(
        weights=[0.5, 0.5],
        similarities=[0.6, 0.5],
        keyword_shares=[0.5, 0.5],
        contradicted=[False, False],
        whole_similarity=0.5,
        flags=[],
        bigram_recall=0.3,
        bigram_f1=0.3,
        token_recall=0.4,
        answer_chars=60,
        reference_chars=120,
    )
