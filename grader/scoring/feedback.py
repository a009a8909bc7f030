"""Written feedback in Chinese for the candidate's reviewer: what was covered, missed, contradicted.

It never says the answer made a point it did not make: it reads each key point's state, which the engine
decides once (covered or partly covered only with evidence in the answer), and the words quoted are the
answer's own, as submitted.
"""

from __future__ import annotations

from collections.abc import Sequence

from grader.scoring.types import ConflictRule, Flag, KeyPointResult, KeyPointState

COVERED_CREDIT = 0.6
PARTIAL_CREDIT = 0.25
QUOTE_CHARS = 40

_FLAG_TEXT = {
    Flag.NON_ANSWER: "回答未给出实质内容（如“不知道”或空白）。",
    Flag.OFF_TOPIC: "回答与题目不符，没有谈到本题的内容。",
    Flag.KEYWORD_STUFFING: "回答罗列了关键词但缺少解释，按评分标准最多给少量分数。",
    Flag.TOO_SHORT: "回答过短，难以体现对要点的理解。",
    Flag.COPY_OF_REFERENCE: "回答与参考答案高度重合，疑似照抄，请人工复核。",
    Flag.REPETITIVE: "回答反复重复同样的句子，重复部分只按一次计分，请人工复核。",
    Flag.CONFLICT: "回答整体较好，但有可能与要点矛盾之处（见下），已送人工复核。",
}


def _quote(point: KeyPointResult) -> str:
    if point.evidence is None:
        return ""
    text = " ".join(point.evidence.text.split())
    return f"（回答：「{text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + '…'}」）"


def write_feedback(points: Sequence[KeyPointResult], flags: Sequence[Flag], score: float) -> str:
    """From each key point's state, decided once by the engine: covered and partial only with evidence, a
    contradicted point never called covered, a disputed one named for the reviewer."""
    lines = [f"得分 {score:.0f}/100。"]
    lines += [_FLAG_TEXT[f] for f in flags]
    if Flag.NON_ANSWER in flags or Flag.OFF_TOPIC in flags:
        return "".join(lines)
    covered = [p for p in points if p.state is KeyPointState.COVERED]
    partial = [p for p in points if p.state is KeyPointState.PARTIAL]
    missed = [p for p in points if p.state is KeyPointState.MISSED]
    if Flag.KEYWORD_STUFFING in flags:
        # Terms without explanation: the point is named, not shown to be understood.
        named = covered + partial
        if named:
            lines.append("提到但未解释：" + "；".join(p.text + _quote(p) for p in named) + "。")
    else:
        if covered:
            lines.append("已覆盖要点：" + "；".join(p.text + _quote(p) for p in covered) + "。")
        if partial:
            lines.append("部分提及：" + "；".join(p.text + _quote(p) for p in partial) + "。")
    if missed:
        lines.append("遗漏要点：" + "；".join(p.text for p in missed) + "。")
    for p in points:
        if p.state is KeyPointState.CONTRADICTED:
            lines.append(f"与要点矛盾：{p.text}{_conflict(p)}。")
        elif p.state is KeyPointState.DISPUTED and p.conflict is not None and p.conflict.rule is ConflictRule.SWAP:
            # Counted in full: the swap check reads two terms of a clause and is often wrong.
            lines.append(f"可能把同类概念说混了（已计入得分）：{p.text}{_conflict(p)}。")
        elif p.state is KeyPointState.DISPUTED:
            lines.append(f"可能与要点矛盾，得分取两种判读之间，请人工确认：{p.text}{_conflict(p)}。")
    return "".join(lines)


def _conflict(point: KeyPointResult) -> str:
    conflict = point.conflict
    if conflict is None:
        return ""
    if conflict.rule is ConflictRule.MISCONCEPTION:
        text = " ".join(conflict.span.text.split())
        quoted = text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + "…"
        return f"（回答：「{quoted}」），接近错误说法“{conflict.claim}”"
    return f"（{conflict.describe()}）"
