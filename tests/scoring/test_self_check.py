"""No bank contradicts itself: its reference answers and key points' own statements raise no contradiction."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.evaluation import EVAL_DIR, contradiction_self_check, grader_for, read_rows
from grader.grading.grader import Grader


# The external sets (100+ questions each, key points generated on load) and the interview banks (fe, jv, ml: 10-13 s
# each on this shared machine, 40% of the fast set's time) are `slow`, kept by the full run; the curated bank and the
# test's own database bank (12 and 5 questions, generated key points) stay in `scripts/test --fast`.
@pytest.mark.parametrize(
    "bank",
    [
        "llm",
        pytest.param("fe", marks=pytest.mark.slow),
        pytest.param("jv", marks=pytest.mark.slow),
        pytest.param("ml", marks=pytest.mark.slow),
        "tests/scoring/data/db/questions.jsonl",
        pytest.param("eval/external/ads/questions.jsonl", marks=pytest.mark.slow),
        pytest.param("eval/external/le/questions.jsonl", marks=pytest.mark.slow),
    ],
)
def test_a_bank_never_contradicts_its_own_reference_or_statements(grader: Grader, bank: str) -> None:
    assert contradiction_self_check(grader_for(bank, grader)) == []


# Kinds of the labelled sets whose answers are right (interviewers' means 7.4-9.9 of 10).
CORRECT_KINDS = {"excellent", "good_different_angle", "english_mixed", "spoken", "english", "good", "terse_correct"}


@pytest.mark.parametrize(
    ("bank", "path"),
    [
        ("llm", EVAL_DIR / "dev_set.jsonl"),
        # The interview banks' labelled sets grade 100+ answers each: `slow`, like the banks above.
        pytest.param("fe", EVAL_DIR / "interview/fe/answers.jsonl", marks=pytest.mark.slow),
        pytest.param("jv", EVAL_DIR / "interview/jv/answers.jsonl", marks=pytest.mark.slow),
        pytest.param("ml", EVAL_DIR / "interview/ml/answers.jsonl", marks=pytest.mark.slow),
    ],
)
def test_no_correct_answer_of_a_labelled_set_is_contradicted(grader: Grader, bank: str, path: Path) -> None:
    # A correct answer sunk by a false contradiction is the worst error a grader makes; measured at zero on
    # every labelled set, kept there.
    rows = [r for r in read_rows(path) if r.label in CORRECT_KINDS]
    assert rows
    results = grader_for(bank, grader).grade_many([(r.question_id, r.answer) for r in rows])
    contradicted = [
        (row.id, kp.id, kp.conflict.describe() if kp.conflict else "")
        for row, result in zip(rows, results, strict=True)
        for kp in result.key_points
        if kp.contradicted
    ]
    assert contradicted == []
