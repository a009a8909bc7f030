"""A claim said in the reference's own words with one quality turned round ("动态" for "静态") contradicts the
key point that states it; the same words with both sides, a reference that negates, or wording of its own do
not."""

from __future__ import annotations

import pytest

from grader.evaluation import grader_for
from grader.grading.grader import Grader
from grader.scoring import claims
from grader.scoring.text import normalise
from grader.scoring.types import ConflictRule, KeyPointState

REFERENCE = "人至货前拣选方式的特点：货物处于静态储存方式，要求货物必须是小型，且出货量较少。"


def _turned(answer: str, claim: str = REFERENCE, reference: str = REFERENCE) -> str | None:
    norm = normalise(answer)
    found = claims.turned_round(norm, claim, reference)
    return None if found is None else norm[found[0] : found[1]]


def test_a_quality_turned_round_in_the_reference_s_words_is_found() -> None:
    assert _turned("人至货前拣选方式的特点：货物处于动态储存方式，要求货物必须是大型。") == "货物处于动态储存方式"
    assert _turned("有重量限制", "有重量限制", "有重量限制") is None
    assert _turned("无重量限制", "有重量限制", "有重量限制") == "无重量限制"


@pytest.mark.parametrize(
    ("answer", "claim", "why"),
    [
        ("货物处于静态储存方式，货物是小型的", REFERENCE, "said as the reference says it"),
        ("两个表的元素一大一小", "两个表的元素大小交替", "both sides in one clause"),
        ("链表长度达到 8 且数组长度大于等于 64 时转红黑树", "数组长度不小于 64 时转为红黑树", "the claim negates"),
        ("拣选时货物一般比较大，出货也多", REFERENCE, "wording of its own: nothing to align"),
    ],
)
def test_no_turn_is_read_where_the_alignment_is_not_plain(answer: str, claim: str, why: str) -> None:
    assert _turned(answer, claim, claim) is None, why


def test_the_reference_itself_saying_both_ways_is_no_turn() -> None:
    reference = "缺点是分配空间小了，容易溢出，分配空间大了，容易造成浪费。"
    assert _turned("缺点是分配空间小了，容易溢出", reference, reference) is None


@pytest.fixture(scope="module")
def le(grader: Grader) -> Grader:
    return grader_for("le", grader)


def test_an_answer_that_turns_the_reference_s_qualities_contradicts_its_point(le: Grader) -> None:
    question = next(q for q, r in le.bank.items() if r.reference_answer.startswith("人至货前拣选方式的特点"))
    wrong = le.grade(question, "人至货前拣选方式的特点：货物处于动态储存方式，要求货物必须是大型，且出货量较多。")
    right = le.grade(question, "人至货前拣选方式的特点：货物处于静态储存方式，要求货物必须是小型，且出货量较少。")
    conflicts = [kp.conflict for kp in wrong.key_points if kp.conflict is not None]
    assert conflicts and conflicts[0].rule is ConflictRule.OPPOSITE and conflicts[0].span.text == "货物处于动态储存方式"
    assert any(kp.state in (KeyPointState.CONTRADICTED, KeyPointState.DISPUTED) for kp in wrong.key_points)
    assert "说反了" in wrong.feedback
    assert not any(kp.contradicted for kp in right.key_points)
    assert wrong.score < right.score - 20
