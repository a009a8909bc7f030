"""A key point that says which way to turn something ("调高温度系数") is contradicted by an answer that
turns it the other way ("把 temperature 调低"), whatever else the answer gets right.

Embeddings and lexical overlap score "调低温度系数，增加随机性" almost as close to "调高温度系数，增加随机性"
as the key point itself. Here the direction is read off the keywords: a keyword whose term is a
direction word (调高, 降低, raise …) acts on the keywords said in the same clause of the key point (温度系数).
An answer that puts the opposite direction word in a clause with one of those keywords, and never uses
the key point's own direction words, reverses the key point. A key point whose clause names both
directions (a two-sided claim) is left to the reversal checks in `contradiction`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from grader.scoring import contradiction, keywords
from grader.scoring.text import normalise
from grader.scoring.types import KeyPoint, Keyword

# Only verbs of adjusting something. Comparisons (大于/小于, 越高/越低, higher/lower) and changes
# described as results (变大/变小) are not here: "A 的末元素小于 B 的首元素" says the same as "B 的首元素
# 大于 A 的末元素", so the opposite word is no reversal without knowing which side is which.
PAIRS: tuple[tuple[str, str], ...] = (
    ("调高", "调低"),
    ("调大", "调小"),
    ("提高", "降低"),
    ("升高", "降低"),
    ("增大", "减小"),
    ("加大", "减小"),
    ("增加", "减少"),
    ("增强", "减弱"),
    ("raise", "lower"),
    ("increase", "decrease"),
    ("increase", "reduce"),
    ("turn up", "turn down"),
)
_CLAUSE = re.compile(r"[^，,。；;！!？?：:\n]+")


@lru_cache(maxsize=1)
def _opposites() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for a, b in PAIRS:
        out.setdefault(a, set()).add(b)
        out.setdefault(b, set()).add(a)
    return {k: frozenset(v) for k, v in out.items()}


@lru_cache(maxsize=256)
def _word_pattern(words: frozenset[str]) -> re.Pattern[str]:
    """Chinese words as written; English ones as whole words with their inflections (raised, lowering)."""
    parts = []
    for word in sorted(words, key=len, reverse=True):
        if word.isascii():
            stem = word[:-1] + "(?:e|es|ed|ing)" if word.endswith("e") else word + "(?:s|ed|ing)?"
            parts.append(r"(?<![a-z])" + stem.replace(" ", r"\s+") + r"(?![a-z])")
        else:
            parts.append(re.escape(word))
    return re.compile("|".join(parts))


Plan = list[tuple[frozenset[str], frozenset[str], frozenset[str]]]


def _plan(key_point: KeyPoint) -> Plan:
    forms = tuple((kw.term, tuple(kw.aliases)) for kw in key_point.keywords)
    return _plan_of(key_point.text, forms)


@lru_cache(maxsize=512)
def _plan_of(text: str, forms: tuple[tuple[str, tuple[str, ...]], ...]) -> Plan:
    """Per direction keyword: (its own direction words, the opposite ones, terms of what it acts on)."""
    opposites = _opposites()
    text = normalise(text)
    plans = []
    keyword_list = [Keyword(term=term, aliases=list(aliases)) for term, aliases in forms]
    for kw in keyword_list:
        term = normalise(kw.term).strip()
        if term not in opposites:
            continue
        own = frozenset(w for w in (normalise(f).strip() for f in kw.forms()) if w in opposites)
        opposite = frozenset(o for w in own for o in opposites[w]) - own
        for clause in _CLAUSE.findall(text):
            if term not in clause:
                continue
            if _word_pattern(opposite).search(clause):
                continue  # both directions in one clause: a two-sided claim
            objects = frozenset(
                other.term for other in keyword_list if other.term != kw.term and keywords.find(clause, other)
            )
            if objects:
                plans.append((own, opposite, objects))
    return plans


def reversed_in(norm: str, key_point: KeyPoint, hits: dict[str, list[keywords.Hit]]) -> tuple[int, int] | None:
    """The clause of the (normalised) answer that turns the key point's direction around, if any.

    Each mention of what the key point adjusts (温度系数) is read with the direction word nearest to it
    in its clause ("lower the temperature to increase randomness": lower). If any mention goes the key
    point's own way, the answer says it, and a reversal elsewhere is left to the other checks.
    """
    for own, opposite, objects in _plan(key_point):
        object_spans = [(h.start, h.end) for term in objects for h in hits.get(term, [])]
        reversed_clause = None
        agrees = False
        for clause in _CLAUSE.finditer(norm):
            text, base = clause.group(0), clause.start()
            words = [(base + m.start(), base + m.end(), True) for m in _word_pattern(own).finditer(text)]
            words += [(base + m.start(), base + m.end(), False) for m in _word_pattern(opposite).finditer(text)]
            words = [w for w in words if not contradiction.negated_terms(norm, [(w[0], w[1])])]
            for s, e in object_spans:
                if not (base <= s and e <= clause.end()) or not words:
                    continue
                nearest = min(words, key=lambda w: min(abs(w[0] - e), abs(s - w[1])))
                if nearest[2]:
                    agrees = True
                elif reversed_clause is None:
                    reversed_clause = (clause.start(), clause.end())
        if reversed_clause is not None and not agrees:
            return reversed_clause
    return None
