"""The answer's claims checked against the reference's, in any bank, curated or generated.

A claim is read as the reference's terms a clause puts together: "程序计数器、虚拟机栈和本地方法栈是线程
私有的" pairs 虚拟机栈 with 私有. An answer's clause can then
- put together what the reference never does (a *novel pair*: often a reorganised but correct answer,
  sometimes a wrong one — the fitted models weigh it),
- *swap* a term for its sibling: pair 虚拟机栈 with 共享 where the reference pairs it with 私有, or say 微任务
  where the reference's clause with the same partner says 宏任务. Siblings are the other items of the
  reference's own enumerations ("堆、栈、方法区") and terms that differ from a reference term by one
  opposite character or word (宏/微, 私有/共享, 同步/异步),
- *negate* a pair the reference states without negation ("虚拟机栈则不是线程私有的").

Nothing here names a subject: the terms, lists and pairs all come from the bank's own reference text.
Counts are measured per answer clause and read by the calibration as features (`model.FEATURES`); a
clause that swaps or negates a reference claim is also named to the reviewer (`engine`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from grader.scoring import lexical
from grader.scoring.text import normalise

# A space between two Chinese characters is a pause, not a word gap: speech transcribed without punctuation
# ("从里往外是 content 然后 padding 嗯 标准盒模型 …") is otherwise one clause pairing every term it names.
_CLAUSE = re.compile(r"[，,。；;！!？?\n：:（）()]+|(?<=[a-z\)])\.(?=\s|$)|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")
_SENTENCE = re.compile(r"[。；;！!？?\n]+|(?<=[a-z\)])\.(?=\s|$)")
# Negation cues; 不 in words that do not negate (不同, 不断, 不足 ...) is left out.
_NEGATION = re.compile(
    r"不(?!同|断|足|少|仅|管|论|如|过|错|久|一定|超过|到)|没有|无法|并非|未(?!来|知)|非(?!常)|never|not|no(?=\s)"
)
# Opposite characters and words: a term turned by one of them names its sibling (宏任务/微任务, 私有/共享).
_OPPOSITE_CHARS = dict(
    pair
    for a, b in zip(
        "宏大高长多先前上内强快增正显主同私有读深早新", "微小低短少后后下外弱慢减负隐从异公无写浅晚旧", strict=True
    )
    for pair in ((a, b), (b, a))
)
_OPPOSITE_WORDS = dict(
    pair
    for a, b in (
        ("私有", "共享"),
        ("同步", "异步"),
        ("串行", "并行"),
        ("阻塞", "非阻塞"),
        ("可变", "不可变"),
        ("有序", "无序"),
        ("增加", "减少"),
        ("提高", "降低"),
        ("变大", "变小"),
        ("之前", "之后"),
        ("上升", "下降"),
        ("最大", "最小"),
        ("必须", "不必"),
        ("可以", "不能"),
        ("保证", "不保证"),
    )
    for pair in ((a, b), (b, a))
)


def clauses(norm: str) -> list[str]:
    return [c.strip() for c in _CLAUSE.split(norm) if c.strip()]


def _flips(term: str) -> set[str]:
    out = {term.replace(a, b, 1) for a, b in _OPPOSITE_WORDS.items() if a in term}
    out |= {term[:i] + _OPPOSITE_CHARS[ch] + term[i + 1 :] for i, ch in enumerate(term) if ch in _OPPOSITE_CHARS}
    return out - {term}


@dataclass(frozen=True)
class ClaimIndex:
    """What a reference claims, as term pairs per clause, with each term's siblings."""

    terms: tuple[str, ...]
    pairs: frozenset[frozenset[str]]  # pairs of terms some reference clause holds together
    negated: frozenset[frozenset[str]]  # ... in a clause that negates
    siblings: dict[str, frozenset[str]]  # term -> terms that would swap for it


@lru_cache(maxsize=512)
def claim_index(reference: str) -> ClaimIndex:
    norm = normalise(reference)
    groups = [set(lexical.enumeration_items(s)) for s in _SENTENCE.split(norm) if s.strip()]
    terms = list(dict.fromkeys([*lexical.reference_tokens(reference), *(t for g in groups for t in g)]))
    siblings: dict[str, set[str]] = {t: set() for t in terms}
    for group in groups:
        for t in group:
            siblings.setdefault(t, set()).update(group - {t})
    for t in list(siblings):
        siblings[t] |= _flips(t)
    terms = list(dict.fromkeys([*terms, *(s for group in siblings.values() for s in group)]))
    pairs, negated = set(), set()
    for clause in clauses(norm):
        here = [t for t in terms if t in clause]
        for a, b in itertools.combinations(here, 2):
            if a in b or b in a:
                continue
            pairs.add(frozenset((a, b)))
            if _NEGATION.search(clause):
                negated.add(frozenset((a, b)))
    return ClaimIndex(
        tuple(terms), frozenset(pairs), frozenset(negated), {t: frozenset(s) for t, s in siblings.items()}
    )


@dataclass(frozen=True)
class Swap:
    """An answer clause that says a reference claim with a sibling term in place of one of its terms."""

    clause: int  # which of the answer's clauses (`clauses`)
    text: str
    # The reference's pairs the clause says with a sibling swapped in, where the sibling is not one item of a list.
    turned_back: frozenset[frozenset[str]]


@dataclass(frozen=True)
class ClaimCheck:
    answer_clauses: int  # clauses of the answer
    clauses: int  # ... holding two or more reference terms
    novel: int  # ... pairing terms no reference clause pairs
    swaps: list[Swap]  # clauses pairing a term with a sibling of the reference's partner
    negated: list[str]  # clauses negating a pair the reference states without negation

    @property
    def swapped(self) -> list[str]:
        return [s.text for s in self.swaps]


def check(answer_norm: str, reference: str) -> ClaimCheck:
    index = claim_index(reference)
    found = novel = 0
    swaps: list[Swap] = []
    negated: list[str] = []
    read = clauses(answer_norm)
    for k, clause in enumerate(read):
        here = [t for t in index.terms if t in clause]
        pairs = [frozenset((a, b)) for a, b in itertools.combinations(here, 2) if a not in b and b not in a]
        if not pairs:
            continue
        found += 1
        unknown = [p for p in pairs if p not in index.pairs]
        if unknown:
            novel += 1
        turned = [t for p in unknown for t in _swapped(p, index)]
        if turned:
            # A term swapped in as an item of the clause's own list ("content、padding、border、margin") names
            # the list, not a claim about its partner: counted, but not held against a key point.
            listed = lexical.enumeration_items(clause)
            claimed = frozenset(back for term, back in turned if not any(term in item for item in listed))
            swaps.append(Swap(k, clause, claimed))
        elif _NEGATION.search(clause) and any(p in index.pairs and p not in index.negated for p in pairs):
            negated.append(clause)
    return ClaimCheck(len(read), found, novel, swaps, negated)


def _swapped(pair: frozenset[str], index: ClaimIndex) -> list[tuple[str, frozenset[str]]]:
    """(the term swapped in, the reference's pair it stands in for) for each way this pair says a reference
    pair with one side swapped for a sibling: the pair is one the reference never states, and with that side
    swapped back it is one the reference does. Nothing for a pair of siblings: two siblings side by side are a
    list ("content、padding、border、margin"), not a claim about either."""
    a, b = tuple(pair)
    if b in index.siblings.get(a, ()) or a in index.siblings.get(b, ()):
        return []
    return [
        (turned, frozenset((keep, sibling)))
        for keep, turned in ((a, b), (b, a))
        for sibling in index.siblings.get(turned, ())
        if frozenset((keep, sibling)) in index.pairs
    ]


def clause_bounds(norm: str) -> list[tuple[int, int]]:
    """(start, end) in `norm` of each clause `clauses(norm)` returns, in order."""
    out = []
    start = 0
    for cut in [*_CLAUSE.finditer(norm), None]:
        end = cut.start() if cut is not None else len(norm)
        piece = norm[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            out.append((start + lead, start + len(piece.rstrip())))
        if cut is not None:
            start = cut.end()
    return out


def states_pair(text: str, pair: frozenset[str]) -> bool:
    """Whether one clause of `text` (a key point, in the reference's lexical form) holds both terms of `pair`."""
    return any(all(t in clause for t in pair) for clause in _point_clauses(text))


@lru_cache(maxsize=4096)
def _point_clauses(text: str) -> tuple[str, ...]:
    return tuple(clauses(normalise(text)))


# -- a claim said the other way round -------------------------------------------------------------------
# An answer that follows the reference's own wording and turns one quality into its opposite ("货物处于动态储存
# 方式" for "货物处于静态储存方式", "无重量限制" for "有重量限制") contradicts that claim. Read only where the
# alignment is plain: the answer's clause, with the character turned back, is mostly made of the claim clause's
# character pairs and covers most of them; the reference never says it the answer's way; the claim clause
# negates nothing ("不小于" says what "大于等于" says); the answer's clause does not hold both sides ("一大一小").
ALIGNED_IN_CLAIM = 0.6  # share of the turned-back clause's character pairs the claim clause holds
ALIGNED_OF_CLAIM = 0.5  # share of the claim clause's character pairs the turned-back clause holds
MIN_CLAUSE_UNITS = 4


def _unit_pairs(found: list[str]) -> set[str]:
    return {a + "\x1f" + b for a, b in itertools.pairwise(found)}


@lru_cache(maxsize=1024)
def _claim_clauses(text: str) -> tuple[frozenset[str], ...]:
    """The character pairs of each clause of a key point's text long enough to align with and negating nothing."""
    out = []
    for clause in clauses(normalise(text)):
        found = lexical.units(clause)
        if len(found) >= MIN_CLAUSE_UNITS and not _NEGATION.search(clause):
            out.append(frozenset(_unit_pairs(found)))
    return tuple(out)


@lru_cache(maxsize=256)
def _reference_pairs(reference: str) -> frozenset[str]:
    return frozenset(p for clause in clauses(normalise(reference)) for p in _unit_pairs(lexical.units(clause)))


@dataclass(frozen=True)
class Turnable:
    """A clause of the answer with a quality the reference could have said the other way: its place, its
    character pairs as written, and for each opposite character it holds (in order) the pairs with that one
    turned back. What a key point's claim is then compared with; the same for every key point of a reference."""

    start: int
    end: int
    written: frozenset[str]
    turned_back: tuple[frozenset[str], ...]


def turnable(answer_norm: str, reference: str) -> tuple[Turnable, ...]:
    """The answer's clauses that could say a claim of the reference with one quality turned round: read once
    per answer, then checked against each key point (`turned_round_in`)."""
    said = _reference_pairs(reference)
    out = []
    for piece in re.finditer(r"[^，,。；;！!？?\n：:（）()、]+", answer_norm):
        found = lexical.UNIT.findall(piece.group(0))  # UNIT has no groups: the matches themselves
        if len(found) < MIN_CLAUSE_UNITS:
            continue
        backs = []
        for i, unit in enumerate(found):
            opposite = lexical.OPPOSITE_CHARS.get(unit)
            if opposite is None or opposite in found:
                continue
            around = {found[j] + "\x1f" + found[j + 1] for j in (i - 1, i) if 0 <= j < len(found) - 1}
            if around & said:
                continue  # the reference says it this way somewhere
            backs.append(frozenset(_unit_pairs([*found[:i], opposite, *found[i + 1 :]])))
        if backs:
            out.append(Turnable(piece.start(), piece.end(), frozenset(_unit_pairs(found)), tuple(backs)))
    return tuple(out)


def turned_round_in(clauses_: Sequence[Turnable], claim: str) -> tuple[int, int] | None:
    """(start, end) of the first of these clauses that says `claim` (a key point's text) as the reference does
    with one quality turned into its opposite; None when there is none."""
    wanted = _claim_clauses(claim)
    if not wanted:
        return None
    for clause in clauses_:
        written = clause.written
        for back in clause.turned_back:
            for pairs in wanted:
                inside = len(back & pairs) / len(back)
                if (
                    inside >= ALIGNED_IN_CLAIM
                    and len(back & pairs) / len(pairs) >= ALIGNED_OF_CLAIM
                    and inside > len(written & pairs) / len(written)
                ):
                    return clause.start, clause.end
    return None


def turned_round(answer_norm: str, claim: str, reference: str) -> tuple[int, int] | None:
    """(start, end) in the answer of its clause that says `claim` (a key point's text) as the reference does
    with one quality turned into its opposite; None when there is none."""
    if not _claim_clauses(claim):
        return None
    return turned_round_in(turnable(answer_norm, reference), claim)
