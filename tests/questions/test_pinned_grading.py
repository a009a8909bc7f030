"""What the grader loads for pinned submissions (`Grader.plan`) and what submit pins, on a migrated
SQLite database: the pinned version, its bank version's questions as peers, the bank's own published
calibration (the shipped one until it has one), and slugs in answer sheets."""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from grader.batches.parsing import parse_sheet
from grader.embeddings import HashEmbedder
from grader.grading.grader import Grader
from grader.keys.principal import CLI
from grader.questions import banks
from grader.questions.calibrations import add_calibration, publish_calibration
from grader.questions.drafts import DraftEdit
from grader.questions.pins import latest_pins, pin_versions, published_questions
from grader.scoring.calibration import load_calibration

from .test_documents import LE, ROOT, csv_bytes

SHIPPED = load_calibration(ROOT / "reference_answers/calibration.json")


def grader() -> Grader:
    return Grader(bank={}, embedder=HashEmbedder(), calibration=SHIPPED)


def test_a_new_bank_grades_with_the_shipped_calibration_until_its_own_is_published(session: Session) -> None:
    banks.import_bank(
        session, "le", LE.joinpath("questions.jsonl").read_bytes(), "questions.jsonl", actor=CLI, publish=True
    )
    pin = latest_pins(session, ["le-005"])["le-005"]
    assert (pin.bank, pin.version) == ("le", 1)
    answer = [("le-005", pin.content_hash)]

    plan = grader().plan(session, answer)
    assert plan.calibrations[pin.content_hash] is SHIPPED and len(plan.peers[pin.content_hash]) == 100
    first = grader().grade_planned(plan, [(pin.content_hash, "物流包括运输、仓储")])[0]
    assert first.provenance.calibration == SHIPPED.version
    assert first.provenance.reference_hash == pin.content_hash and first.question_id == "le-005"

    own = SHIPPED.model_copy(update={"version": "le-own", "coef": [SHIPPED.coef[0] + 5, *SHIPPED.coef[1:]]})
    info = add_calibration(session, "le", own, source="test", actor=CLI)
    assert grader().plan(session, answer).calibrations[pin.content_hash] is SHIPPED  # unpublished: not used
    publish_calibration(session, "le", info.version, actor=CLI)
    plan = grader().plan(session, answer)
    assert plan.calibrations[pin.content_hash].version == "le-own"
    assert plan.banks[pin.content_hash] == "le"
    # The default bank has no calibration of its own until one is published: it grades with the shipped one.
    q01 = latest_pins(session, ["q01"])["q01"]
    assert grader().plan(session, [("q01", q01.content_hash)]).calibrations[q01.content_hash] is SHIPPED


def test_an_old_pin_grades_against_its_own_version_after_a_new_one_is_published(session: Session) -> None:
    banks.import_bank(
        session, "le", LE.joinpath("questions.jsonl").read_bytes(), "questions.jsonl", actor=CLI, publish=True
    )
    v1 = latest_pins(session, ["le-005"])["le-005"]
    banks.edit_draft(session, "le", "le-005", DraftEdit(question="修订后的第五题？"), actor=CLI)
    banks.publish_bank(session, "le", actor=CLI)
    v2 = latest_pins(session, ["le-005"])["le-005"]
    assert v2.version == 2 and v2.content_hash != v1.content_hash

    located = pin_versions(session, [("le-005", v1.content_hash), ("le-005", v2.content_hash)])
    assert located[("le-005", v1.content_hash)].version == 1 and located[("le-005", v2.content_hash)].version == 2
    plan = grader().plan(session, [("le-005", v1.content_hash)])
    assert plan.references[v1.content_hash].question != "修订后的第五题？"
    assert published_questions(session)["le-005"] == "修订后的第五题？"


def test_a_sheet_may_name_slug_ids_in_any_case_and_qnn_still_resolves(session: Session) -> None:
    banks.import_bank(
        session, "le", LE.joinpath("questions.jsonl").read_bytes(), "questions.jsonl", actor=CLI, publish=True
    )
    answers = [json.loads(line) for line in LE.joinpath("test.jsonl").read_text(encoding="utf-8").splitlines()[:3]]
    rows = [["candidate_id", "question_id", "answer"]]
    rows += [["c1", answers[0]["question_id"].upper(), answers[0]["answer"]], ["c2", "q3", "多头注意力"]]
    rows += [["c3", "le-999", "x"]]
    sheet = parse_sheet(csv_bytes(rows), published_questions(session))
    assert [a.question_id for a in sheet.answers] == [answers[0]["question_id"], "q03"]
    assert [e.row for e in sheet.errors] == [4]
