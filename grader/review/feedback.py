"""The feedback shown once a reviewer has decided: the grader's text, with the score line telling the
final score beside the grader's. The stored grade is never rewritten (the audit log keeps both)."""

from __future__ import annotations

import re

# The grader's feedback opens with its score (`grader.scoring.feedback`): "得分 34/100。".
_SCORE_LINE = re.compile(r"^\s*得分\s*\d+(?:\.\d+)?\s*/\s*100\s*[。.]?\s*")


def shown_feedback(feedback: str, *, grader_score: float, final_score: float | None, reviewed: bool) -> str:
    """`feedback` as the grader wrote it, or, after a review, with its score line replaced by
    "复核后得分 5/100（评分器 34/100）。" (added in front when the grader's text has no score line)."""
    if not reviewed or final_score is None:
        return feedback
    final = f"{final_score:.1f}".removesuffix(".0")  # a reviewer's 12.5 stays 12.5
    line = f"复核后得分 {final}/100（评分器 {grader_score:.0f}/100）。"
    return line + _SCORE_LINE.sub("", feedback, count=1)
