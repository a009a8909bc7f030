"""Written feedback in Chinese for the candidate's reviewer: what was covered, missed, contradicted.

It never says the answer made a point it did not make: a key point is named as covered or partly
covered only with evidence in the answer (`evidenced`: one of the point's own terms in a span about
it, or a span that paraphrases it), and the words quoted are the answer's own, as submitted.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from grader.scoring.types import Flag, KeyPointResult

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
}
# Contradiction reasons that quote the answer itself; the others name the misconception it is close to.
_QUOTES_ANSWER = ("否定了", "方向相反")


def _quote(point: KeyPointResult) -> str:
    if point.evidence is None:
        return ""
    text = " ".join(point.evidence.text.split())
    return f"（回答：「{text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS] + '…'}」）"


def write_feedback(
    points: Sequence[KeyPointResult],
    flags: Sequence[Flag],
    score: float,
    evidenced: Collection[str] | None = None,
) -> str:
    lines = [f"得分 {score:.0f}/100。"]
    lines += [_FLAG_TEXT[f] for f in flags]
    if Flag.NON_ANSWER in flags or Flag.OFF_TOPIC in flags:
        return "".join(lines)
    shown = {p.id for p in points} if evidenced is None else set(evidenced)
    covered = [p for p in points if not p.contradicted and p.credit >= COVERED_CREDIT and p.id in shown]
    partial = [
        p for p in points if not p.contradicted and p.credit >= PARTIAL_CREDIT and p.id in shown and p not in covered
    ]
    missed = [p for p in points if not p.contradicted and p not in covered and p not in partial]
    wrong = [p for p in points if p.contradicted]
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
    for p in wrong:
        reason = p.contradiction or ""
        if reason.startswith(_QUOTES_ANSWER):
            lines.append(f"与要点矛盾：{p.text}（{reason}）。")
        else:
            lines.append(f"与要点矛盾：{p.text}{_quote(p)}，接近错误说法“{reason}”。")
    return "".join(lines)
