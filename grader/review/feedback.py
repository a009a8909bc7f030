"""The feedback shown once a reviewer has decided: the grader's text, with the score line telling the
final score beside the grader's, and, when the reviewer changed the score, the reviewer's reason first and
the grader's reasoning marked as what was overridden (a candidate must not read "与要点矛盾…" under a
score a person raised as if it still stood). The stored grade is never rewritten (the audit log keeps both)."""

from __future__ import annotations

import re

# The grader's feedback opens with its score (`grader.scoring.feedback`): "得分 34/100。".
_SCORE_LINE = re.compile(r"^\s*得分\s*\d+(?:\.\d+)?\s*/\s*100\s*[。.]?\s*")


def shown_feedback(
    feedback: str, *, grader_score: float, final_score: float | None, reviewed: bool, comment: str | None = None
) -> str:
    """`feedback` as the grader wrote it, or, after a review, with its score line replaced by
    "复核后得分 5/100（评分器 34/100）。" (added in front when the grader's text has no score line).
    When the reviewer changed the score and gave a reason: "审核意见：<reason>。评分器原评语（已被复核更正）：…"."""
    if not reviewed or final_score is None:
        return feedback
    final = f"{final_score:.1f}".removesuffix(".0")  # a reviewer's 12.5 stays 12.5
    line = f"复核后得分 {final}/100（评分器 {grader_score:.0f}/100）。"
    rest = _SCORE_LINE.sub("", feedback, count=1)
    reason = (comment or "").strip().rstrip("。.")
    if reason and abs(final_score - grader_score) > 1e-9:
        return f"{line}审核意见：{reason}。评分器原评语（已被复核更正）：{rest}"
    return line + rest
