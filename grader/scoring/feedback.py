"""Written feedback in Chinese for the candidate's reviewer: what was covered, missed, contradicted."""

from __future__ import annotations

from collections.abc import Sequence

from grader.scoring.types import Flag, KeyPointResult

COVERED_CREDIT = 0.6
PARTIAL_CREDIT = 0.25

_FLAG_TEXT = {
    Flag.NON_ANSWER: "回答未给出实质内容（如“不知道”或空白）。",
    Flag.OFF_TOPIC: "回答与题目不符，更像是在回答另一道题。",
    Flag.KEYWORD_STUFFING: "回答罗列了关键词但缺少解释，按评分标准最多给少量分数。",
    Flag.TOO_SHORT: "回答过短，难以体现对要点的理解。",
    Flag.COPY_OF_REFERENCE: "回答与参考答案高度重合，疑似照抄，请人工复核。",
    Flag.REPETITIVE: "回答反复重复同样的句子，重复部分只按一次计分，请人工复核。",
}


def write_feedback(points: Sequence[KeyPointResult], flags: Sequence[Flag], score: float) -> str:
    lines = [f"得分 {score:.0f}/100。"]
    lines += [_FLAG_TEXT[f] for f in flags]
    if Flag.NON_ANSWER in flags or Flag.OFF_TOPIC in flags:
        return "".join(lines)
    covered = [p for p in points if not p.contradicted and p.credit >= COVERED_CREDIT]
    partial = [p for p in points if not p.contradicted and PARTIAL_CREDIT <= p.credit < COVERED_CREDIT]
    missed = [p for p in points if not p.contradicted and p.credit < PARTIAL_CREDIT]
    wrong = [p for p in points if p.contradicted]
    if covered:
        lines.append("已覆盖要点：" + "；".join(p.text for p in covered) + "。")
    if partial:
        lines.append("部分提及：" + "；".join(p.text for p in partial) + "。")
    if missed:
        lines.append("遗漏要点：" + "；".join(p.text for p in missed) + "。")
    for p in wrong:
        lines.append(f"与要点矛盾：{p.text}（回答中：{p.contradiction}）。")
    return "".join(lines)
