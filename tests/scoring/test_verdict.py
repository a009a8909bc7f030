"""Judgement questions ("请判断以下叙述是否正确") answered the other way round, and terse answers that state the
reference's formula: the verdict read off the opening clause, formulas read one way however they are written."""

from __future__ import annotations

import pytest

from grader.evaluation import grader_for
from grader.grading.grader import Grader
from grader.scoring import lexical, verdict
from grader.scoring.text import normalise
from grader.scoring.types import ConflictRule, Flag, KeyPointState


@pytest.mark.parametrize(
    ("text", "polarity"),
    [
        ("错误。栈中元素可以从栈顶先出栈", -1),
        ("不正确，因为元素的进栈时间是不确定的", -1),
        ("不，顺序栈在内存中是连续的", -1),
        ("这种说法是错误的，例如", -1),
        ("答：错误", -1),
        ("正确。栈的结构就是后进先出", 1),
        ("是的，HashMap 不是线程安全的", 1),
        ("对，前和后是固定的", 1),
    ],
)
def test_a_short_opening_clause_is_read_as_a_verdict(text: str, polarity: int) -> None:
    found = verdict.opening(normalise(text))
    assert found is not None and found[0] == polarity


@pytest.mark.parametrize("text", ["对于栈来说，栈底元素最后出栈", "是一种先进后出的结构", "栈底元素可以删除", ""])
def test_an_opening_that_explains_is_no_verdict(text: str) -> None:
    assert verdict.opening(normalise(text)) is None


def test_agreement_compares_the_answer_s_verdict_with_the_reference_s() -> None:
    reference = "错误。顺序栈是指使用顺序存储结构实现的栈，栈中的元素不一定是有序的。"
    assert verdict.agreement(normalise("不对，顺序栈只是存储连续"), reference) == 1
    assert verdict.agreement(normalise("正确的，顺序栈中元素是有序的"), reference) == -1
    assert verdict.agreement(normalise("顺序栈的元素不一定有序"), reference) == 0
    assert verdict.agreement(normalise("正确"), "顺序栈是用顺序存储结构实现的栈。") == 0  # the reference judges nothing


def test_formula_precision_counts_the_answer_s_formulas_the_reference_states() -> None:
    reference = "由于分支节点共有n-1个，因此这种树的总数为2^(n-1)种。"
    assert lexical.formulas("共2^(n - 1)个。", reference)[0] == 1.0
    assert lexical.formulas("2^n", reference)[0] == 0.0
    assert lexical.formulas("快速排序不会", reference) == (0.0, False)  # no formula: nothing to count
    assert lexical.expressions("Precision = TP / (TP + FP)，复杂度 O(n)") == {"tp/(tp+fp)", "o(n)"}


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("2的n-1次方", "2^(n-1)"),
        ("2的（n-1）次方个", "2^(n-1)"),
        ("pow（2，n-1）", "2^(n-1)"),
        ("2 ^ (n - 1)", "2^(n-1)"),
        ("2^(n)", "2^n"),
        ("(2 * n + 1) / 3", "(2n+1)/3"),
    ],
)
def test_a_formula_is_read_one_way_however_it_is_written(written: str, read: str) -> None:
    assert lexical.expressions(written) == {read}


def test_numbering_and_the_space_between_two_formulas_keep_them_apart() -> None:
    assert lexical.expressions("（1）n/2\n（2）（2n+1)/3") == {"n/2", "(2n+1)/3"}
    assert lexical.expressions("n/2 (2n+1)/3") == {"n/2", "(2n+1)/3"}
    assert lexical.expressions("概率为 0.5") == {"0.5"}  # a decimal is no numbering


@pytest.mark.parametrize(
    ("answer", "precision", "result"),
    [
        ("2^(n-1)", 1.0, True),
        ("共2的n-1次方种二叉树", 1.0, True),
        ("1", 0.0, False),  # a number inside the reference's formula is not a number it states
        ("2的n次方-1", 0.0, False),
        ("2^n-1", 0.0, False),
        # The result and a derivation: the answer says more than its formula, which the other overlaps measure.
        ("高度为n说明每层只有一个节点，除根节点外每个节点可以是左孩子或右孩子，所以一共2^(n-1)种", 1.0, False),
    ],
)
def test_an_answer_that_is_the_reference_s_formula_states_its_result(
    answer: str, precision: float, result: bool
) -> None:
    reference = (
        "由于每个分支节点都只有一个子节点，这个子节点可以是左子节点也可以是右子节点。"
        "由于分支节点共有n-1个，因此这种树的总数为2^(n-1)种。"
    )
    assert lexical.formulas(answer, reference) == (precision, result)


def test_names_written_with_a_slash_or_a_digit_are_no_result() -> None:
    reference = "HTTP/2 多路复用，async/await 是 Promise 的语法糖，L1 正则让权重稀疏。"
    for answer in ("HTTP/2", "async/await", "L1"):
        assert lexical.formulas(answer, reference) == (1.0, False)


@pytest.fixture(scope="module")
def ads(grader: Grader) -> Grader:
    return grader_for("ads", grader)


def test_the_opposite_verdict_contradicts_the_point_that_carries_the_reference_s(ads: Grader) -> None:
    # ads-006: "判断：栈底元素是不能删除的元素", reference "错误。栈中元素可以从栈顶的元素先出栈……".
    wrong = ads.grade("ads-006", "正确。栈的结构就是后进先出，每次都是 pop 栈顶元素，所以栈底元素不能删除。")
    right = ads.grade("ads-006", "错误。栈中元素可以从栈顶一个一个出栈删除，直到最后删除栈底元素。")
    point = wrong.key_points[0]
    assert point.state in (KeyPointState.CONTRADICTED, KeyPointState.DISPUTED)
    assert point.conflict is not None and point.conflict.rule is ConflictRule.VERDICT
    assert point.conflict.span.text == "正确"
    assert "判断相反" in wrong.feedback
    assert not any(kp.contradicted for kp in right.key_points)
    assert right.score - wrong.score >= 30


def test_a_terse_answer_that_is_the_reference_s_result_is_not_sunk(ads: Grader) -> None:
    # ads-019 asks how many binary trees of n nodes have height n; teachers gave "2^(n-1)" full marks and the
    # grader 21-39 at confidence 0.87-0.98: it shares no words with the derivation the reference gives.
    right = [ads.grade("ads-019", answer) for answer in ("2^(n-1)", "2的n-1次方", "共2的（n-1）次方种")]
    wrong = [ads.grade("ads-019", answer) for answer in ("1", "2n-1", "2的n次方-1")]
    assert min(r.score for r in right) >= 60
    assert max(w.score for w in wrong) <= 30
    # Nor is the result flagged as too short or off topic, as "1" is.
    assert not any(r.flags for r in right)
    assert all(Flag.TOO_SHORT in w.flags for w in wrong)
