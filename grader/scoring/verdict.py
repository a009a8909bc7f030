"""A judgement question answered the other way round.

A reference that opens with a verdict ("错误。顺序栈是指……", "不是，HashMap 不是线程安全的……") settles the
question's claim before it explains it; the key point that carries that verdict is contradicted by an answer
that opens with the opposite one ("正确。栈的结构就是后进先出……"), whatever its explanation shares with the
reference. Only a short opening clause is read as a verdict: "对于栈来说……" or "是一种……" say nothing of the
kind. Measured on the ADS training split's three judgement questions: an answer opening with the reference's
verdict was marked 8.9/10 on average (153 answers), with the opposite one 0.0 (44 answers).
"""

from __future__ import annotations

import re
from functools import lru_cache

from grader.scoring.text import normalise

# The opening clause: up to the first punctuation mark or line break. Spaces split it too: generated key
# points keep the reference's "错误。" as "错误 ……".
_OPENING = re.compile(r"^[\s(（]*(?:答|解)?[\s:：]*([^，,。.；;！!？?：:\s]+)")
# Who is judged ("该叙述", "这种说法是") before the verdict; what follows it ("的", "了").
_SUBJECT = r"(?:该叙述|该说法|这种说法|这个说法|此说法|这句话|原命题|命题|叙述|说法|题目|题干)?(?:是|为)?"
_TAIL = r"(?:的|了|啊|呀)?"
NEGATIVE = (
    *("不正确", "错误", "错", "不对", "否", "不是", "不成立"),
    *("不一定", "不可以", "不可", "不能", "不会", "没有", "不"),
)
POSITIVE = ("正确", "对", "是", "是的", "成立", "可以", "能", "会", "有")
_NEGATIVE = re.compile(f"{_SUBJECT}(?:{'|'.join(NEGATIVE)}){_TAIL}")
_POSITIVE = re.compile(f"{_SUBJECT}(?:{'|'.join(POSITIVE)}){_TAIL}")


def opening(text: str) -> tuple[int, int, int] | None:
    """(polarity, start, end) of the verdict the normalised text opens with: -1 (错误, 不是 …) or +1 (正确, 是
    …), with its place in the text; None when the opening clause is not a verdict alone."""
    match = _OPENING.match(text)
    if match is None:
        return None
    clause = match.group(1)
    if _NEGATIVE.fullmatch(clause):
        return -1, match.start(1), match.end(1)
    if _POSITIVE.fullmatch(clause):
        return 1, match.start(1), match.end(1)
    return None


@lru_cache(maxsize=1024)
def _own(text: str) -> tuple[int, int, int] | None:
    """The verdict a reference or key point opens with: read once, every answer to it compares with it."""
    return opening(normalise(text))


def agreement(answer_norm: str, reference: str) -> int:
    """+1 where the answer opens with the verdict the reference opens with, -1 with the opposite one, else 0."""
    own, theirs = _own(reference), opening(answer_norm)
    if own is None or theirs is None:
        return 0
    return 1 if own[0] == theirs[0] else -1


def turned(answer_norm: str, point_text: str) -> tuple[int, int] | None:
    """Where the answer opens with the verdict opposite to the one the key point opens with, if it does."""
    own = _own(point_text)
    if own is None:
        return None
    theirs = opening(answer_norm)
    if theirs is None or own[0] == theirs[0]:
        return None
    return theirs[1], theirs[2]
