"""Bank use cases on a migrated SQLite database: import, drafts, publish, export, calibration."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grader.db.bank_models import Bank, BankQuestion, BankVersion, CalibrationVersion, PublishedIsImmutable
from grader.db.models import AuditEntry, Question, ReferenceVersion
from grader.errors import BankNotFound, BankVersionNotFound, InvalidBankFile, NothingToPublish, QuestionNotFound
from grader.keys.principal import CLI
from grader.questions import banks
from grader.questions.calibrations import add_calibration, bank_calibration, list_calibrations, publish_calibration
from grader.questions.drafts import DraftEdit, KeyPointEdit
from grader.questions.references import load_bank
from grader.scoring.calibration import load_calibration
from grader.scoring.types import Keyword

from .conftest import session_for
from .test_documents import ADS, LE, ROOT, SEED, csv_bytes

LE_JSONL = LE.joinpath("questions.jsonl").read_bytes()


def counts(session: Session) -> tuple[int | None, ...]:
    return tuple(
        session.scalar(select(func.count()).select_from(m))
        for m in (Bank, BankQuestion, BankVersion, ReferenceVersion, Question, AuditEntry)
    )


def shuffled_markdown(path: Path, seed: int) -> bytes:
    text = path.read_text(encoding="utf-8")
    sections = ["## " + s.strip() + "\n" for s in text.split("## ") if s.strip()]
    random.Random(seed).shuffle(sections)
    return "\n".join(sections).encode()


def test_a_fresh_database_holds_the_default_bank_published(session: Session) -> None:
    [llm] = banks.list_banks(session)
    # Version 1 as migration 0005 froze it, version 2 as 0013 froze it (q06's direction key points).
    assert (llm.name, llm.questions, llm.version, llm.pending) == ("llm", 12, 2, 0)
    published = banks.published_references(session, "llm")
    assert published.references == load_bank()  # the curated YAML files, exactly
    # No calibration of its own: it grades with the shipped one, which moves with the scoring code.
    assert bank_calibration(session, "llm") is None


def test_the_seed_imports_into_the_default_bank_as_q01_to_q12_keeping_curated_points(session: Session) -> None:
    report = banks.import_bank(session, "llm", shuffled_markdown(SEED, 3), "seed.md", actor=CLI)
    assert sorted(q.question_id for q in report.questions) == [f"q{n:02d}" for n in range(1, 13)]
    assert {q.status for q in report.questions} == {"unchanged"}
    assert all(q.curated == q.key_points for q in report.questions)
    with pytest.raises(NothingToPublish):
        banks.publish_bank(session, "llm", actor=CLI)


def test_import_the_100_question_bank_and_publish(session: Session) -> None:
    report = banks.import_bank(session, "le", LE_JSONL, "questions.jsonl", actor=CLI, publish=True)
    assert report.counts() == {"added": 100, "updated": 0, "unchanged": 0}
    assert report.published is not None and report.published.version == 1
    refs = banks.published_references(session, "le").references
    assert list(refs)[-1] == "le-100" and len(refs) == 100
    assert refs["le-005"].question == "盘点方式有哪些？"
    assert session.get(Question, "le-100") is not None  # gradable: submissions can name it


def test_dry_run_reports_and_writes_nothing(session: Session) -> None:
    before = counts(session)
    report = banks.import_bank(session, "ads", ADS.joinpath("bank.md").read_bytes(), "bank.md", actor=CLI, dry_run=True)
    assert report.new_bank and len(report.questions) == 15
    assert {q.id_from for q in report.questions} == {"derived"}
    assert counts(session) == before


def test_bad_rows_fail_the_whole_file_and_nothing_is_written(session: Session) -> None:
    before = counts(session)
    rows = [
        ["question_id", "question", "reference_answer"],
        *[[f"ok-{n}", f"问题{n}？", f"答案{n}。"] for n in range(1, 50)],
        ["ok-50", "问题五十？", ""],
    ]
    with pytest.raises(InvalidBankFile) as caught:
        banks.import_bank(session, "t", csv_bytes(rows), "bank.csv", actor=CLI, publish=True)
    assert [(e["row"], e["field"]) for e in caught.value.errors] == [(51, "reference_answer")]
    assert caught.value.status_code == 422
    assert counts(session) == before


def test_ids_another_bank_holds_are_refused_by_row(session: Session) -> None:
    data = csv_bytes(
        [
            ["question_id", "question", "reference_answer"],
            ["x-1", "新问题？", "新答案。"],
            ["q03", "别的问题？", "别的答案。"],
        ]
    )
    with pytest.raises(InvalidBankFile) as caught:
        banks.import_bank(session, "other", data, "b.csv", actor=CLI)
    [error] = caught.value.errors
    assert error["row"] == 3 and "bank 'llm'" in str(error["message"])


def test_a_reordered_document_keeps_every_questions_id_and_key_points(session: Session) -> None:
    banks.import_bank(session, "ads", ADS.joinpath("bank.md").read_bytes(), "bank.md", actor=CLI)
    # An admin curates one question's key points.
    qid = banks.list_questions(session, "ads")[4].question_id
    draft = banks.get_draft(session, "ads", qid)
    curated = [
        KeyPointEdit(
            id="kp1", text="由admin写的要点", weight=1.0, keywords=[Keyword(term="要点", aliases=["key point"])]
        )
    ]
    banks.edit_draft(session, "ads", qid, DraftEdit(key_points=curated), actor=CLI)
    before = {
        q.question_id: banks.get_draft(session, "ads", q.question_id) for q in banks.list_questions(session, "ads")
    }

    report = banks.import_bank(session, "ads", shuffled_markdown(ADS / "bank.md", 7), "bank.md", actor=CLI)
    assert {q.status for q in report.questions} == {"unchanged"}
    after = {
        q.question_id: banks.get_draft(session, "ads", q.question_id) for q in banks.list_questions(session, "ads")
    }
    assert after == before
    assert after[qid].key_points[0].text == "由admin写的要点" and after[qid].question == draft.question


def test_publish_is_immutable_hashed_and_diffed(session: Session) -> None:
    banks.import_bank(session, "le", LE_JSONL, "questions.jsonl", actor=CLI)
    first = banks.publish_bank(session, "le", actor=CLI)
    v1 = banks.published_references(session, "le", 1)
    assert first.digest == v1.digest and first.diff.summary() == "100 added, 0 changed, 0 removed, 0 unchanged"
    with pytest.raises(NothingToPublish):
        banks.publish_bank(session, "le", actor=CLI)

    draft = banks.get_draft(session, "le", "le-007")
    points = [KeyPointEdit(**kp.model_dump(exclude={"curated"})) for kp in draft.key_points]
    points[0] = points[0].model_copy(update={"statements": ["另一种正确说法"]})
    banks.edit_draft(session, "le", "le-007", DraftEdit(key_points=points), actor=CLI)
    assert banks.diff_versions(session, "le").summary() == "0 added, 1 changed, 0 removed, 99 unchanged"
    second = banks.publish_bank(session, "le", actor=CLI)
    assert second.version == 2 and second.digest != first.digest
    [change] = second.diff.questions
    assert change.question_id == "le-007" and change.key_points[0].fields[0].field == "statements"

    # Version 1 still grades as it did; both versions' references are there by hash.
    assert banks.published_references(session, "le", 1).references == v1.references
    old, new = v1.references["le-007"], banks.published_references(session, "le").references["le-007"]
    found = banks.references_by_hash(session, [("le-007", old.content_hash), ("le-007", new.content_hash)])
    assert found == {old.content_hash: old, new.content_hash: new}
    assert [v.version for v in banks.list_versions(session, "le")] == [1, 2]
    assert banks.diff_versions(session, "le", 1, 2) == second.diff

    row = session.scalars(select(ReferenceVersion).where(ReferenceVersion.question_id == "le-007")).first()
    assert row is not None
    row.reference_answer = "forged"
    with pytest.raises(PublishedIsImmutable):
        session.flush()
    session.rollback()


def test_import_replaces_the_drafts_and_publish_drops_removed_questions(session: Session) -> None:
    banks.import_bank(session, "le", LE_JSONL, "questions.jsonl", actor=CLI, publish=True)
    fewer = b"\n".join(LE_JSONL.splitlines()[:90])
    report = banks.import_bank(session, "le", fewer, "questions.jsonl", actor=CLI, publish=True)
    assert report.removed == [f"le-{n:03d}" for n in range(91, 101)]
    assert report.published is not None and report.published.diff.summary().startswith("0 added, 0 changed, 10 removed")
    assert len(banks.published_references(session, "le").references) == 90
    assert len(banks.published_references(session, "le", 1).references) == 100


def test_export_and_import_round_trip_into_a_fresh_database(
    session: Session, tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    banks.import_bank(session, "ads", ADS.joinpath("questions.jsonl").read_bytes(), "q.jsonl", actor=CLI)
    qid = "ads-003"
    draft = banks.get_draft(session, "ads", qid)
    banks.edit_draft(session, "ads", qid, DraftEdit(question=draft.question + "（请举例）"), actor=CLI)
    published = banks.publish_bank(session, "ads", actor=CLI)
    exported = banks.export_bank(session, "ads")
    assert exported == banks.export_bank(session, "ads", 1)
    assert "version: 1" in exported

    other = tmp_path / "other.db"
    other.write_bytes(migrated_sqlite_template.read_bytes())
    with session_for(f"sqlite:///{other}") as fresh:
        report = banks.import_bank(fresh, "ads", exported.encode(), "ads.yaml", actor=CLI, publish=True)
        assert report.published is not None and report.published.digest == published.digest
        assert (
            banks.published_references(fresh, "ads").references == banks.published_references(session, "ads").references
        )


def test_unknown_bank_and_question_and_version(session: Session) -> None:
    with pytest.raises(BankNotFound, match="known banks: llm"):
        banks.list_questions(session, "nope")
    with pytest.raises(QuestionNotFound):
        banks.get_draft(session, "llm", "q99")
    with pytest.raises(BankVersionNotFound):
        banks.published_references(session, "llm", 7)


def test_calibration_versions_belong_to_a_bank(session: Session) -> None:
    banks.import_bank(session, "le", LE_JSONL, "questions.jsonl", actor=CLI)
    assert bank_calibration(session, "le") is None  # grades with the shipped calibration
    fitted = load_calibration(ROOT / "reference_answers/calibration.json").model_copy(
        update={"version": "le-fit", "intercept": 0.2}
    )
    added = add_calibration(session, "le", fitted, source="le/train.jsonl", actor=CLI)
    assert added.version == 1 and added.published_at is None
    assert bank_calibration(session, "le") is None
    publish_calibration(session, "le", 1, actor=CLI)
    current = bank_calibration(session, "le")
    assert current is not None and current.calibration == fitted
    assert [c.version for c in list_calibrations(session, "le")] == [1]
    row = session.scalar(select(CalibrationVersion).where(CalibrationVersion.source == "le/train.jsonl"))
    assert row is not None
    row.params = json.loads(json.dumps({**row.params, "intercept": 0.9}))
    with pytest.raises(PublishedIsImmutable):
        session.flush()
    session.rollback()


def test_the_seed_brings_back_q01_to_q12_after_the_drafts_lost_them(session: Session) -> None:
    half = b"".join(b"## " + s for s in SEED.read_bytes().split(b"## ")[1:7])
    assert banks.import_bank(session, "llm", half, "half.md", actor=CLI).removed == [f"q{n:02d}" for n in range(7, 13)]
    report = banks.import_bank(session, "llm", shuffled_markdown(SEED, 11), "seed.md", actor=CLI)
    assert sorted((q.question_id, q.status) for q in report.questions if q.status != "unchanged") == [
        (f"q{n:02d}", "added") for n in range(7, 13)
    ]
    assert all(q.curated == q.key_points for q in report.questions)
    with pytest.raises(NothingToPublish):  # exactly version 1 again
        banks.publish_bank(session, "llm", actor=CLI)


def test_a_question_dropped_and_brought_back_keeps_its_curated_key_points(session: Session) -> None:
    document = ADS.joinpath("bank.md").read_bytes()
    banks.import_bank(session, "ads", document, "bank.md", actor=CLI)
    qid = banks.list_questions(session, "ads")[2].question_id
    curated = [KeyPointEdit(id="kp1", text="人工整理的要点", weight=1.0, keywords=[Keyword(term="要点")])]
    banks.edit_draft(session, "ads", qid, DraftEdit(key_points=curated), actor=CLI)
    banks.publish_bank(session, "ads", actor=CLI)
    sections = document.split(b"## ")
    without = b"## ".join(sections[:3] + sections[4:])
    assert banks.import_bank(session, "ads", without, "bank.md", actor=CLI, publish=True).removed == [qid]

    report = banks.import_bank(session, "ads", document, "bank.md", actor=CLI)
    [back] = [q for q in report.questions if q.status == "added"]
    assert back.question_id == qid and back.curated == 1
    assert banks.get_draft(session, "ads", qid).key_points[0].text == "人工整理的要点"


def test_a_published_imported_bank_is_what_the_grader_grades_with(session: Session) -> None:
    from grader.embeddings import HashEmbedder
    from grader.grading.grader import Grader

    banks.import_bank(session, "le", LE_JSONL, "questions.jsonl", actor=CLI, publish=True)
    published = banks.published_references(session, "le")
    grader = Grader(
        bank=published.references,
        embedder=HashEmbedder(),
        calibration=load_calibration(ROOT / "reference_answers/calibration.json"),
    )
    answers = [json.loads(line) for line in LE.joinpath("test.jsonl").read_text(encoding="utf-8").splitlines()[:20]]
    results = grader.grade_many([(a["question_id"], a["answer"]) for a in answers])
    for answer, result in zip(answers, results, strict=True):
        assert result.question_id == answer["question_id"]
        assert result.provenance.reference_hash == published.references[answer["question_id"]].content_hash


def test_gbk_csv_and_xlsx_tables_import_like_the_jsonl(session: Session) -> None:
    from .test_documents import xlsx_bytes

    rows = [json.loads(line) for line in LE_JSONL.decode().splitlines()]
    table = [["题号", "题目", "参考答案"], *[[r["question_id"], r["question"], r["reference_answer"]] for r in rows]]
    from_csv = banks.import_bank(session, "le", csv_bytes(table, encoding="gbk"), "le.csv", actor=CLI, dry_run=True)
    from_xlsx = banks.import_bank(session, "le", xlsx_bytes(list(table)), "le.xlsx", actor=CLI, publish=True)
    assert (from_csv.file_format, from_xlsx.file_format) == ("csv", "xlsx")
    assert [q.question_id for q in from_csv.questions] == [q.question_id for q in from_xlsx.questions]
    assert [q.row for q in from_xlsx.questions][:2] == [2, 3]
    again = banks.import_bank(session, "le", LE_JSONL, "questions.jsonl", actor=CLI)
    assert {q.status for q in again.questions} == {"unchanged"}


def test_a_yaml_file_whose_key_points_do_not_add_up_names_the_question_and_writes_nothing(session: Session) -> None:
    banks.import_bank(session, "ads", ADS.joinpath("questions.jsonl").read_bytes(), "q.jsonl", actor=CLI, publish=True)
    exported = banks.export_bank(session, "ads")
    before = counts(session)
    not_a_number = exported.replace("weight: ", "weight: 0.0", 1)  # 0.35 becomes 0.00.35
    with pytest.raises(InvalidBankFile) as caught:
        banks.import_bank(session, "ads", not_a_number.encode(), "ads.yaml", actor=CLI)
    assert [(e["row"], e["field"]) for e in caught.value.errors] == [(1, "key_points.0.weight")]
    off_by_some = re.sub(r"weight: [0-9.]+", "weight: 0.001", exported, count=1)
    with pytest.raises(InvalidBankFile, match="add up to 1") as caught:
        banks.import_bank(session, "ads", off_by_some.encode(), "ads.yaml", actor=CLI)
    assert [(e["row"], e["field"]) for e in caught.value.errors] == [(1, "key_points")]
    assert counts(session) == before


@pytest.mark.parametrize(("bank", "document"), [("le", LE / "questions.jsonl"), ("ads", ADS / "bank.md")])
def test_the_measuring_tools_grade_against_the_bank_an_import_creates(
    session: Session, bank: str, document: Path
) -> None:
    """`grader eval --bank FILE` and `grader calibrate` build their bank in memory; it must be the one an
    import of the same document would publish (same ids, key points and keywords), or the figures they
    report would describe another bank than the one users grade with."""
    from grader.eval_bank import load_eval_bank

    banks.import_bank(session, bank, document.read_bytes(), document.name, actor=CLI, publish=True)
    imported = banks.published_references(session, bank).references
    assert load_eval_bank(str(document)) == imported  # the bank is named after the document's folder
