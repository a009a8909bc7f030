"""The feedback shown after a review tells the final score beside the grader's."""

from __future__ import annotations

from grader.review.feedback import shown_feedback

GRADER = "得分 34/100。已覆盖要点：温度作用在 softmax 上。遗漏要点：T 小于 1 更保守。"


def test_unreviewed_feedback_is_the_graders() -> None:
    assert shown_feedback(GRADER, grader_score=34.2, final_score=34.2, reviewed=False) == GRADER


def test_after_a_review_the_score_line_gives_both_scores_and_the_rest_is_kept() -> None:
    shown = shown_feedback(GRADER, grader_score=34.2, final_score=5, reviewed=True)
    assert shown == "复核后得分 5/100（评分器 34/100）。已覆盖要点：温度作用在 softmax 上。遗漏要点：T 小于 1 更保守。"
    assert "得分 34/100。" not in shown.replace("评分器 34/100", "")
    assert shown_feedback(GRADER, grader_score=34.2, final_score=12.5, reviewed=True).startswith("复核后得分 12.5/100")


def test_feedback_without_a_score_line_gets_one_in_front() -> None:
    assert shown_feedback("回答过短。", grader_score=20, final_score=40, reviewed=True) == (
        "复核后得分 40/100（评分器 20/100）。回答过短。"
    )


def test_an_override_with_a_reason_shows_the_reason_and_marks_the_graders_reasoning_overridden() -> None:
    grader = "得分 30/100。与要点矛盾：候选人说多头共享参数。"
    shown = shown_feedback(
        grader, grader_score=30, final_score=80, reviewed=True, comment="候选人说的是分组共享，合理。"
    )
    assert shown == (
        "复核后得分 80/100（评分器 30/100）。审核意见：候选人说的是分组共享，合理。"
        "评分器原评语（已被复核更正）：与要点矛盾：候选人说多头共享参数。"
    )


def test_a_review_that_keeps_the_score_keeps_the_graders_reasoning_as_is() -> None:
    grader = "得分 30/100。缺少要点。"
    assert shown_feedback(grader, grader_score=30, final_score=30, reviewed=True, comment="同意") == (
        "复核后得分 30/100（评分器 30/100）。缺少要点。"
    )
