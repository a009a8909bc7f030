"""Text handling that keeps character offsets into the answer as submitted.

Candidates type full-width and half-width punctuation, mixed case and mixed scripts. Matching works
on a normalised copy of the same length (one character in, one character out), so every span found
in the copy is also a valid span of the original answer.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Clause boundaries: Chinese and English punctuation, enumeration commas and line breaks.
_CLAUSE_BREAK = re.compile(r"[，,。！？!?；;：:、\n\r]+|(?<=[a-zA-Z\)])\.(?=\s|$)")
_SENTENCE_BREAK = re.compile(r"[。！？!?；;\n\r]+|(?<=[a-zA-Z\)])\.(?=\s|$)")
_ZERO_WIDTH: dict[int, int] = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"), ord(" "))
# Full-width ASCII (Ｔ，（）０-９) and the ideographic space, as Chinese input methods type them.
_FOLD: dict[int, int] = {**_ZERO_WIDTH, **{cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}, 0x3000: ord(" ")}
_COMMON = re.compile(r"[\u0000-\u007f\u4e00-\u9fff\u3001-\u303f\uff01-\uff5e\u200b-\u200d\u2060\ufeff]*")
# The characters `_FOLD` changes, each with what it becomes. Replacing only these is `translate(_FOLD)` at a
# third of the cost: translate looks every character up in the table, and a Chinese text's are all misses.
_FOLDABLE = re.compile("[" + "".join(re.escape(chr(cp)) for cp in _FOLD) + "]")
_FOLDED = {chr(cp): chr(to) for cp, to in _FOLD.items()}


def _fold(match: re.Match[str]) -> str:
    return _FOLDED[match.group(0)]


def normalise(text: str) -> str:
    """Same-length matching copy: full-width folded, lower case, other compatibility forms NFKC'd.

    A one-to-one character map keeps every offset found in the copy valid in the original.
    """
    if _COMMON.fullmatch(text):  # the usual case: ASCII, CJK and full-width punctuation only
        return _FOLDABLE.sub(_fold, text).lower()
    out = []
    for ch in text.translate(_ZERO_WIDTH):
        folded = unicodedata.normalize("NFKC", ch).lower()
        out.append(folded if len(folded) == 1 else ch.lower()[:1] or ch)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class TextSpan:
    start: int
    end: int
    text: str
    level: int  # 1 = clause, 2..n = window of that many clauses, 0 = whole sentence


def _pieces(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    start = 0
    for match in pattern.finditer(text):
        pieces.append((start, match.start()))
        start = match.end()
    pieces.append((start, len(text)))
    trimmed = []
    for s, e in pieces:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e - s >= 2:
            trimmed.append((s, e))
    return trimmed


def spans(text: str, max_window: int = 3) -> list[TextSpan]:
    """Clauses, windows of up to `max_window` adjacent clauses, and sentences; deduplicated.

    A key point is often stated across two or three comma clauses ("温度越高，分布越平，输出越随机"),
    so single clauses alone would miss it, and whole sentences would dilute it.
    """
    clauses = _pieces(text, _CLAUSE_BREAK)
    seen: set[tuple[int, int]] = set()
    out: list[TextSpan] = []

    def add(start: int, end: int, level: int) -> None:
        if (start, end) not in seen:
            seen.add((start, end))
            out.append(TextSpan(start, end, text[start:end], level))

    for size in range(1, max_window + 1):
        for i in range(len(clauses) - size + 1):
            add(clauses[i][0], clauses[i + size - 1][1], size)
    for s, e in _pieces(text, _SENTENCE_BREAK):
        add(s, e, 0)
    if not out and text.strip():
        stripped = text.strip()
        start = text.index(stripped)
        add(start, start + len(stripped), 1)
    return out


def clause_count(text: str) -> int:
    return len(_pieces(text, _CLAUSE_BREAK))


def content_length(text: str) -> int:
    """Characters that carry content: letters, digits and CJK, not spaces or punctuation."""
    return sum(map(str.isalnum, text))
