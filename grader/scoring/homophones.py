"""Keywords that speech recognition wrote with the wrong characters (编码期 for 编码器, 主意力 for 注意力).

A transcript spells a term by its sound. A Chinese keyword form is found where the answer has the
same syllables (toneless pinyin, read in context by pypinyin) written with different characters, as
long as at least one character is the same and at most a third differ (one in a two- or three-character
term): "位置" does not match "未知" (same sound, no character in common).
"""

from __future__ import annotations

import re
from functools import lru_cache

_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_CJK_FORM = re.compile(r"[\u4e00-\u9fff]{2,8}")


def _readings(run: str) -> list[str]:
    from pypinyin import lazy_pinyin

    syllables: list[str] = lazy_pinyin(run)
    if len(syllables) != len(run):  # a character pypinyin cannot read: read one by one
        syllables = [lazy_pinyin(ch)[0] for ch in run]
    return syllables


@lru_cache(maxsize=32)  # every keyword of a reference is looked up in the same answer
def _sounds(text: str) -> tuple[str, dict[int, int]]:
    """The text's Chinese as "syl syl … |" runs, and the character offset of each syllable start."""
    parts: list[str] = []
    offsets: dict[int, int] = {}
    at = 0
    for run in _CJK_RUN.finditer(text):
        for i, syllable in enumerate(_readings(run.group(0))):
            offsets[at] = run.start() + i
            parts.append(syllable + " ")
            at += len(syllable) + 1
        parts.append("| ")
        at += 2
    return "".join(parts), offsets


@lru_cache(maxsize=4096)
def _form_sound(form: str) -> str | None:
    if not _CJK_FORM.fullmatch(form):
        return None
    return " ".join(_readings(form)) + " "


def allowed_differences(length: int) -> int:
    return max(1, length // 3)


def sound_alike(text: str, form: str) -> list[tuple[int, int]]:
    """(start, end) where `text` says `form` with other characters of the same sound."""
    sound = _form_sound(form)
    if sound is None:
        return []
    sounds, offsets = _sounds(text)
    found = []
    at = sounds.find(sound)
    while at >= 0:
        start = offsets.get(at)
        if start is not None:
            written = text[start : start + len(form)]
            differing = sum(1 for a, b in zip(written, form, strict=True) if a != b)
            if 0 < differing <= allowed_differences(len(form)) and differing < len(form):
                found.append((start, start + len(form)))
        at = sounds.find(sound, at + 1)
    return found
