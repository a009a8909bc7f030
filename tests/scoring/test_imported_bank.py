"""An imported interview bank, graded with generated key points and the shipped calibration, as an
interviewer would: the trial's cases from issue 17 on the Java/JVM bank of eval/interview/ (real embedder,
nothing curated)."""

from __future__ import annotations

import json

import pytest

from grader.evaluation import EVAL_DIR, grader_for
from grader.grading.grader import Grader
from grader.scoring.types import KeyPointState


@pytest.fixture(scope="module")
def jv(grader: Grader) -> Grader:
    return grader_for("jv", grader)


def _answer(question: str, kind: str) -> str:
    for line in (EVAL_DIR / "interview/jv/answers.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["question_id"] == question and row["kind"] == kind:
            return str(row["answer"])
    raise LookupError((question, kind))


def test_an_excellent_answer_to_a_generated_bank_scores_high_and_is_graded(jv: Grader) -> None:
    result = jv.grade("jv02", _answer("jv02", "excellent"))  # the interviewer gave 9/10
    assert result.score >= 70 and result.confidence >= 0.5
    assert sum(kp.state is KeyPointState.COVERED for kp in result.key_points) >= len(result.key_points) / 2


def test_a_good_answer_to_another_question_of_the_field_scores_low(jv: Grader) -> None:
    # The volatile answer (jv05) to the runtime-data-areas question: 79 before the interview banks were fitted.
    result = jv.grade("jv02", _answer("jv05", "excellent"))
    assert result.score <= 25
    assert all(kp.state is KeyPointState.MISSED and kp.credit == 0 for kp in result.key_points)


def test_a_fluent_answer_with_the_central_facts_swapped_scores_low(jv: Grader) -> None:
    # "栈是所有线程共享的……堆是每个线程私有的": the reverse of the reference (78 before).
    wrong = jv.grade("jv02", _answer("jv02", "wrong_confident"))
    assert wrong.score <= 40
    assert wrong.score < jv.grade("jv02", _answer("jv02", "excellent")).score - 40


def test_a_key_point_the_table_shows_as_missed_adds_no_credit(jv: Grader) -> None:
    result = jv.grade("jv02", _answer("jv02", "minimal_correct"))
    for kp in result.key_points:
        if kp.state in (KeyPointState.MISSED, KeyPointState.CONTRADICTED):
            assert kp.credit == 0
            assert kp.text not in result.feedback.split("遗漏要点：")[0]  # never listed as covered
