"""Keywords that speech recognition wrote with the wrong characters (编码期 for 编码器, 主意力 for 注意力).

A transcript spells a term by its sound. A Chinese keyword form is found where the answer has
characters of the same sound (toneless pinyin; a character with several readings matches any of
them) in its place, as long as at least one character is the same and at most a third differ (one in
a two- or three-character term): "位置" does not match "未知" (same sound, no character in common).

The readings are pypinyin's character table (its `pinyin_dict.json`, read as data: importing the
package would also load its 400,000-phrase table, ~50 MB, for context this matching does not need).
"""

from __future__ import annotations

import importlib.util
import json
import unicodedata
from functools import lru_cache
from pathlib import Path

_CJK_LOW, _CJK_HIGH = "\u4e00", "\u9fff"


def _toneless(reading: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", reading) if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def _table() -> dict[str, frozenset[str]]:
    spec = importlib.util.find_spec("pypinyin")
    if spec is None or spec.origin is None:
        return {}
    raw: dict[str, str] = json.loads((Path(spec.origin).parent / "pinyin_dict.json").read_text(encoding="utf-8"))
    return {
        chr(int(code)): frozenset(_toneless(r) for r in readings.split(","))
        for code, readings in raw.items()
        if _CJK_LOW <= chr(int(code)) <= _CJK_HIGH
    }


@lru_cache(maxsize=32)  # every keyword of a reference is looked up in the same answer
def _index(text: str) -> tuple[frozenset[str], dict[str, list[int]]]:
    """The answer's characters, and for each reading the positions of characters that have it."""
    table = _table()
    positions: dict[str, list[int]] = {}
    for i, ch in enumerate(text):
        for reading in table.get(ch, ()):
            positions.setdefault(reading, []).append(i)
    return frozenset(text), positions


def allowed_differences(length: int) -> int:
    return max(1, length // 3)


@lru_cache(maxsize=4096)
def _chinese_forms(forms: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The forms this matching applies to, and every character they use."""
    chosen = tuple(f for f in forms if 2 <= len(f) <= 8 and all(_CJK_LOW <= ch <= _CJK_HIGH for ch in f))
    return chosen, frozenset("".join(chosen))


def sound_alike_any(text: str, forms: tuple[str, ...]) -> list[tuple[int, int]]:
    """`sound_alike` for each of a keyword's forms, skipping at once those the answer cannot match."""
    chosen, used = _chinese_forms(forms)
    if not chosen or _index(text)[0].isdisjoint(used):
        return []
    return [hit for form in chosen for hit in sound_alike(text, form)]


def sound_alike(text: str, form: str) -> list[tuple[int, int]]:
    """(start, end) where `text` says `form` with other characters of the same sound."""
    n = len(form)
    if not 2 <= n <= 8 or not all(_CJK_LOW <= ch <= _CJK_HIGH for ch in form):
        return []
    chars, positions = _index(text)
    if chars.isdisjoint(form):
        return []  # no character in common anywhere: nothing can match
    table = _table()
    readings = [table.get(ch, frozenset()) for ch in form]
    starts = sorted({p for r in readings[0] for p in positions.get(r, ())})
    found = []
    for start in starts:
        written = text[start : start + n]
        if len(written) < n:
            break
        differing = sum(1 for a, b in zip(written, form, strict=True) if a != b)
        if not 0 < differing <= min(allowed_differences(n), n - 1):
            continue
        if all(a == b or readings[k] & table.get(a, frozenset()) for k, (a, b) in enumerate(zip(written, form,
                                                                                                strict=True))):
            found.append((start, start + n))
    return found
