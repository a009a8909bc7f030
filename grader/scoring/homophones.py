"""Keywords that speech recognition wrote with the wrong characters (编码期 for 编码器, 主意力 for 注意力).

A transcript spells a term by its sound. A Chinese keyword form is found where the answer has
characters of the same sound (toneless pinyin) in its place, as long as at least one character is the
same and at most a third differ (one in a two- or three-character term): "位置" does not match "未知"
(same sound, no character in common).

Speech recognition writes a sound with a character read that way in its usual reading, so an answer's
character is read by its first reading, and a keyword's characters by any of theirs (重复 is heard as
chong fu or zhong fu). Each syllable gets one private-use code point, so an answer's sounds are a string
as long as the answer and a form is found by plain substring search.

The readings are pypinyin's character table (its `pinyin_dict.json`, read as data: importing the
package would also load its 400,000-phrase table, ~50 MB, for context this matching does not need).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import unicodedata
from functools import lru_cache
from pathlib import Path

_CJK_LOW, _CJK_HIGH = "\u4e00", "\u9fff"
_NO_SOUND = "\x00"
MAX_VARIANTS = 16  # readings combinations tried per form (heteronyms multiply them)


def _toneless(reading: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", reading) if not unicodedata.combining(ch))


@lru_cache(maxsize=1)
def _readings() -> dict[str, tuple[str, ...]]:
    """Each Chinese character's toneless readings, the usual one first."""
    spec = importlib.util.find_spec("pypinyin")
    if spec is None or spec.origin is None:
        return {}
    raw: dict[str, str] = json.loads((Path(spec.origin).parent / "pinyin_dict.json").read_text(encoding="utf-8"))
    out = {}
    for code, readings in raw.items():
        ch = chr(int(code))
        if _CJK_LOW <= ch <= _CJK_HIGH:
            out[ch] = tuple(dict.fromkeys(_toneless(r) for r in readings.split(",")))
    return out


@lru_cache(maxsize=1)
def _codes() -> dict[str, str]:
    syllables = sorted({s for rs in _readings().values() for s in rs})
    return {s: chr(0xF0000 + i) for i, s in enumerate(syllables)}  # supplementary private use area


@lru_cache(maxsize=1)
def _usual() -> dict[int, str]:
    codes = _codes()
    return {ord(ch): codes[rs[0]] for ch, rs in _readings().items()}


@lru_cache(maxsize=32)  # every keyword of a reference is looked up in the same answer
def _sounds(text: str) -> tuple[str, frozenset[str], frozenset[str]]:
    """The answer as one sound code per character (non-Chinese: none), its characters, and its sounds."""
    usual = _usual()
    sounds = "".join(usual.get(ord(ch), _NO_SOUND) for ch in text)
    return sounds, frozenset(text), frozenset(sounds)


@lru_cache(maxsize=4096)
def _variants(form: str) -> tuple[str, ...]:
    codes, readings = _codes(), _readings()
    options = [[codes[r] for r in readings.get(ch, ())] for ch in form]
    if not all(options):
        return ()
    return tuple("".join(p) for p in itertools.islice(itertools.product(*options), MAX_VARIANTS))


def allowed_differences(length: int) -> int:
    return max(1, length // 3)


@lru_cache(maxsize=4096)
def _chinese_forms(forms: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The forms this matching applies to, and every character they use."""
    chosen = tuple(f for f in forms if 2 <= len(f) <= 8 and all(_CJK_LOW <= ch <= _CJK_HIGH for ch in f))
    return chosen, frozenset("".join(chosen))


@lru_cache(maxsize=4096)
def _heard(form: str) -> tuple[frozenset[str], ...]:
    """For each character of the form, the sound codes of all its readings: what `_variants` combines."""
    codes, readings = _codes(), _readings()
    return tuple(frozenset(codes[r] for r in readings.get(ch, ())) for ch in form)


def sound_alike_any(text: str, forms: tuple[str, ...]) -> list[tuple[int, int]]:
    """`sound_alike` for each of a keyword's forms, skipping at once those the answer cannot match: a match holds
    one of the form's characters at least, and a sound of each of them (92% of the forms looked for on the dev
    set lack one; each search tries up to MAX_VARIANTS readings)."""
    chosen, used = _chinese_forms(forms)
    if not chosen:
        return []
    _, chars, heard = _sounds(text)
    if chars.isdisjoint(used):
        return []
    return [
        hit
        for form in chosen
        if not chars.isdisjoint(form) and not any(sounds.isdisjoint(heard) for sounds in _heard(form))
        for hit in sound_alike(text, form)
    ]


def sound_alike(text: str, form: str) -> list[tuple[int, int]]:
    """(start, end) where `text` says `form` with other characters of the same sound."""
    n = len(form)
    if not 2 <= n <= 8 or not all(_CJK_LOW <= ch <= _CJK_HIGH for ch in form):
        return []
    sounds = _sounds(text)[0]
    found = set()
    for variant in _variants(form):
        at = sounds.find(variant)
        while at >= 0:
            written = text[at : at + n]
            differing = sum(1 for a, b in zip(written, form, strict=True) if a != b)
            if 0 < differing <= min(allowed_differences(n), n - 1):
                found.add((at, at + n))
            at = sounds.find(variant, at + 1)
    return sorted(found)
