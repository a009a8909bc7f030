"""Finding a key point's terms in an answer, in any of the ways candidates write them.

Forms are matched on the normalised answer (full-width folded, lower case). Latin forms must stand
as whole words ("RL" does not match inside "RLHF", but "PPO策略" matches "ppo"), and spaces, hyphens
and underscores inside a form are optional ("multi-head" = "multi head" = "multihead").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from grader.scoring import homophones
from grader.scoring.text import normalise
from grader.scoring.types import Keyword

_SEPARATORS = re.compile(r"[\s\-_]+")
# English words of four letters or more also match their inflections: "repeat" finds "repeats",
# "repeated", "repeating"; "penalize" finds "penalized", "penalizing".
_ENGLISH_WORD = re.compile(r"[a-z]{4,}")


# Chinese terms of three characters or more also match with a 的 inside: "不同的特征" says "不同特征".
_CJK_WORD = re.compile(r"[\u4e00-\u9fff]{3,}")


def _with_de(word: str) -> str:
    return "的?".join(word)


# A quality named with 性 is also said with its adjective: "输出越随机" speaks of 随机性, "不够稳定" of 稳定性.
# Only for terms of three characters or more, so the stem left is a word of its own (not 线 for 线性).
_QUALITY_SUFFIX = "性"


def _quality_stem_optional(pattern: str) -> str:
    return pattern.removesuffix("的?" + _QUALITY_SUFFIX) + f"(?:的?{_QUALITY_SUFFIX})?"


def _inflected(word: str) -> str:
    if word.endswith("e"):
        return word[:-1] + "(?:e|es|ed|ing)"
    if word.endswith("y"):
        return word[:-1] + "(?:y|ies|ied|ying)"
    return word + "(?:s|es|ed|ing)?"


def _words(form: str) -> list[str]:
    """The form's words as its pattern matches them: normalised, split where a separator may stand."""
    return [p for p in _SEPARATORS.split(normalise(form).strip()) if p]


@lru_cache(maxsize=4096)
def form_pattern(form: str) -> re.Pattern[str]:
    parts = [re.escape(p) for p in _words(form)]
    if parts and _ENGLISH_WORD.fullmatch(parts[-1]):
        parts[-1] = _inflected(parts[-1])
    quality = bool(parts) and bool(_CJK_WORD.fullmatch(parts[-1])) and parts[-1].endswith(_QUALITY_SUFFIX)
    parts = [_with_de(p) if _CJK_WORD.fullmatch(p) else p for p in parts]
    if quality:
        parts[-1] = _quality_stem_optional(parts[-1])
    body = r"[\s\-_]*".join(parts)
    if re.match(r"[a-z0-9]", parts[0][:1] if parts else ""):
        body = r"(?<![a-z0-9])" + body
    if re.search(r"[a-z0-9]$", parts[-1] if parts else ""):
        body = body + r"(?![a-z0-9])"
    return re.compile(body)


def _any_of(forms: list[str]) -> str:
    """The patterns of these forms as one, tried in this order, behind a check of the character they start with.

    A form's pattern starts with its first word's first character as written (a whole-word check before it
    reads no character). Without the check, Python's re tries every alternative at every position of the text,
    and one behind a look-behind (a Latin form) is not ruled out by its first character: with it, the alias
    rewriting of a span cost a third as much. A form with no words would match anywhere: then no check.
    """
    body = "|".join(f"(?:{form_pattern(f).pattern})" for f in forms)
    words = [_words(f) for f in forms]
    if not forms or not all(words):
        return body
    first = sorted({w[0][0] for w in words})
    return f"(?=[{''.join(re.escape(ch) for ch in first)}])(?:{body})"


@dataclass(frozen=True, slots=True)
class Hit:
    keyword: str  # the keyword's canonical term
    start: int
    end: int
    by_sound: bool = False  # written with other characters of the same sound (编码期 for 编码器)


@lru_cache(maxsize=4096)
def forms_pattern(forms: tuple[str, ...]) -> re.Pattern[str]:
    """Every form in one pattern, longest first, so one scan finds them all."""
    # Longest first; equal lengths in a fixed order, not the set's (which changes with the process's hash seed:
    # two worker processes matched q06's overlapping forms differently and measured different signals).
    ordered = sorted(set(forms), key=lambda f: (-len(f), f))
    return re.compile(_any_of(ordered))


def find(normalised_text: str, keyword: Keyword) -> list[Hit]:
    forms = (keyword.term, *keyword.aliases)
    hits = [Hit(keyword.term, m.start(), m.end()) for m in forms_pattern(forms).finditer(normalised_text)]
    if hits:
        return hits
    # Only a term the answer never writes: Chinese forms where speech recognition wrote them with other
    # characters of the same sound (a written hit already shows the term; sounds would cost time for nothing).
    found: list[Hit] = []
    for start, end in sorted(set(homophones.sound_alike_any(normalised_text, forms))):
        if not found or start >= found[-1].end:
            found.append(Hit(keyword.term, start, end, by_sound=True))
    return found


def find_all(normalised_text: str, keywords: list[Keyword]) -> dict[str, list[Hit]]:
    """Hits per keyword term (terms with no hit map to an empty list)."""
    return {kw.term: find(normalised_text, kw) for kw in keywords}


def hit_chars(hits: dict[str, list[Hit]]) -> int:
    """Characters of the answer covered by keyword hits (overlaps counted once)."""
    covered: set[int] = set()
    for term_hits in hits.values():
        for hit in term_hits:
            covered.update(range(hit.start, hit.end))
    return len(covered)


def canonicaliser(all_keywords: list[Keyword]) -> re.Pattern[str] | None:
    """One pattern for every alias of these keywords, longest first (see `canonicalise`)."""
    forms = sorted({a for kw in all_keywords for a in kw.aliases}, key=lambda f: (-len(f), f))
    if not forms:
        return None
    return re.compile(_any_of(forms))


def canonicalise(text: str, pattern: re.Pattern[str] | None, terms: dict[str, str]) -> str:
    """The normalised text with every alias replaced by its keyword's term.

    "把 temperature 调低" and "把温度系数调低" then make the same claim for lexical comparison.
    """
    norm = normalise(text)
    if pattern is None:
        return norm
    return pattern.sub(lambda m: terms.get(_SEPARATORS.sub("", m.group(0)), m.group(0)), norm)


def alias_terms(all_keywords: list[Keyword]) -> dict[str, str]:
    """Alias (normalised, separators removed) -> normalised term."""
    out: dict[str, str] = {}
    for kw in all_keywords:
        for alias in kw.aliases:
            out.setdefault(_SEPARATORS.sub("", normalise(alias)), normalise(kw.term))
    return out
