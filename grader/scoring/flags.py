"""Stage 4, flags: answers the similarity cannot judge — non-answers, off-topic or unrelated answers, very short
ones, keyword lists and stuffing, copies of the reference, padding."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from grader.scoring import keywords
from grader.scoring.measure import PointMeasure
from grader.scoring.prepared import PreparedReference
from grader.scoring.reading import Embedded
from grader.scoring.text import clause_count, content_length, normalise
from grader.scoring.types import Flag

# Off-topic: the answer is far from its own reference and holds few of its terms, while another
# question's reference fits it better (by cosine or by share of terms present).
OFF_TOPIC_MAX_SIMILARITY = 0.4
OFF_TOPIC_MAX_KEYWORDS = 0.2
OFF_TOPIC_MARGIN = 0.05
# ... or it is about nothing in the bank at all: no keyword of its question, this far from its reference.
UNRELATED_MAX_SIMILARITY = 0.25
UNRELATED_MIN_CHARS = 30
# Answers of fewer content characters than this cannot show understanding of a point, unless what
# they say is in the reference ("2^(n-1)", "定期、临时"): this share of their bigrams is.
TOO_SHORT_CHARS = 12
SHORT_BUT_IN_REFERENCE = 0.5
# ... and an answer that shares this share of its bigrams with its reference is not off-topic.
OFF_TOPIC_MAX_OVERLAP = 0.3
# Keyword stuffing: at least this many keyword hits, in a list of short items (fewer words per
# clause than this) with almost no words that connect them into claims (是/把/因为/所以/is/so …) ...
STUFFING_MIN_HITS = 3
STUFFING_MAX_UNITS_PER_CLAUSE = 4.0
STUFFING_MAX_CONNECTIVES = 0.1
SPACED_ITEM_UNITS = 6  # a space-separated item longer than this (CJK characters, Latin words) is a sentence
# ... or the same few terms repeated: hits at least this many times the number of distinct terms.
STUFFING_REPEAT_RATIO = 3.0
STUFFING_REPEAT_MIN_HITS = 8
STUFFING_REPEAT_COVERAGE = 0.5  # ... and those terms make up this share of the answer
# Copy of the reference: this share of the answer's character 5-grams appear in the reference, and
# they cover this share of a reference long enough that reciting it from memory is unlikely (a short
# definition reproduced word for word is what students learn; on LE 19% of answers did, mean 7.2/10).
COPY_CONTAINMENT = 0.6
COPY_COVERAGE = 0.5
COPY_MIN_REFERENCE_CHARS = 40

_WORD_UNIT = re.compile(r"[a-z][a-z0-9_\-]*|[\u4e00-\u9fff]")
_CONNECTIVE = re.compile(
    r"是|把|让|使|通过|因为|所以|会|能|可以|用|来|将|越|如果|则|而|由于|负责|作用|导致|等于|属于|相当于|就|才|再|然后|先|给|对|比|更"
    r"|(?<![a-z])(?:is|are|makes?|so|because|by|to|the|it|when|which|that)(?![a-z])"
)
# "不会" alone is a verdict as often as an admission ("快排不会" answers "does quicksort do this?"):
# only a person who does not know ("我不会", "不会做") or a bare "不会" is a non-answer.
_DONT_KNOW = re.compile(
    r"不知道|不清楚|不了解|(?:我|还|也|都|完全|真)不会|不会(?:做|答|写|了)|^\W*不会(?:\W|$)|不太懂|不懂|忘了|不记得|答不上|说不上来"
    r"|没(?:有)?[^，。,.]{0,8}?(?:了解|学|接触|研究|听说|听|看)过"
    r"|don'?t know|no idea|not sure|never heard|can'?t remember|no clue|not familiar"
)


def _keyword_share(norm: str, ref: PreparedReference) -> float:
    """How well an answer fits a question by its terms: the share of the question's keywords present."""
    groups = [kw for p in ref.key_points for kw in p.key_point.keywords]
    return sum(1 for kw in groups if keywords.find(norm, kw)) / max(len(groups), 1)


def _off_topic(
    embedded: Embedded,
    norm: str,
    reference: PreparedReference,
    bank: Sequence[PreparedReference],
    measures: list[PointMeasure],
    overlap: float,
) -> bool:
    if overlap >= OFF_TOPIC_MAX_OVERLAP:
        return False
    groups = sum(len(m.hits) for m in measures)
    share = sum(1 for m in measures for h in m.hits.values() if h) / max(groups, 1)
    similarity = float(embedded.whole @ reference.answer_vector)
    if similarity >= OFF_TOPIC_MAX_SIMILARITY or share > OFF_TOPIC_MAX_KEYWORDS:
        return False
    if unrelated(similarity, share, content_length(embedded.answer)):
        return True  # about nothing in the bank (火锅, 爬山): no other question needs to fit better
    others = [r for r in bank if r.reference.id != reference.reference.id]
    # Another question's reference closer by cosine settles it; its keywords (a search per keyword, most of
    # this check's cost) are looked for only when none is.
    if any(float(embedded.whole @ r.answer_vector) > similarity + OFF_TOPIC_MARGIN for r in others):
        return True
    return any(_keyword_share(norm, r) > share + OFF_TOPIC_MAX_KEYWORDS for r in others)


def unrelated(similarity: float, keyword_share: float, length: int) -> bool:
    """An answer of some length that shares no term with its question and is far from its reference.

    Short answers ("2^(n-1)", "快排不会") say too little for the embedding to place them; they are
    left to the too_short and non-answer checks.
    """
    return length >= UNRELATED_MIN_CHARS and keyword_share == 0 and similarity < UNRELATED_MAX_SIMILARITY


@lru_cache(maxsize=64)  # a reference's grams are needed for every answer to it
def _char_grams(text: str, n: int = 5) -> frozenset[str]:
    compact = "".join(filter(str.isalnum, normalise(text)))
    # compact[i : i + n] for each i, joined from n shifted copies without a Python loop (the shortest ends it)
    return frozenset(map("".join, zip(*(compact[k:] for k in range(n)), strict=False)))


@lru_cache(maxsize=256)  # once per reference
def _reference_length(reference_answer: str) -> int:
    return content_length(reference_answer)


def _spaced_items(norm: str, clauses: int) -> int:
    """Items of a list typed with spaces instead of commas ("预训练 SFT 奖励模型 PPO"): only when the answer
    has no clause punctuation (it has `clauses` clauses) and every item is a word or two, not a sentence."""
    if clauses > 1:
        return 0
    items = norm.split()
    if len(items) < 3 or any(len(_WORD_UNIT.findall(item)) > SPACED_ITEM_UNITS for item in items):
        return 0
    return len(items)


def _listed(norm: str) -> bool:
    """A list of short items (commas or spaces between them) with almost no words that connect them into claims."""
    counted = clause_count(norm)  # read once: the spaced items are looked for only where there is one clause
    clauses = max(counted, _spaced_items(norm, counted))
    units = len(_WORD_UNIT.findall(norm))
    unconnected = len(_CONNECTIVE.findall(norm)) / max(units, 1) < STUFFING_MAX_CONNECTIVES
    return unconnected and clauses >= 3 and units / clauses < STUFFING_MAX_UNITS_PER_CLAUSE


@lru_cache(maxsize=256)  # once per reference
def _is_list(reference_answer: str) -> bool:
    return _listed(normalise(reference_answer))


def _hit_chars(measures: list[PointMeasure]) -> int:
    return keywords.hit_chars({str(i): [h for hs in m.hits.values() for h in hs] for i, m in enumerate(measures)})


def _stuffed(norm: str, measures: list[PointMeasure], reference_is_list: bool) -> bool:
    """Keywords without explanation: a bare list of terms, or a few terms said over and over.

    Where the reference itself is a list ("盘点的原则：真实、准确、完整、清楚"), a list is the answer.
    """
    distinct = sum(1 for m in measures for h in m.hits.values() if h)
    # Count places, not forms: "位置编码" also matches the alias "位置" at the same place.
    occurrences = len({h.start for m in measures for hs in m.hits.values() for h in hs})
    if (
        distinct >= 2
        and occurrences >= STUFFING_REPEAT_MIN_HITS
        and occurrences >= STUFFING_REPEAT_RATIO * distinct
        # Counted last: it builds a set of every character the hits cover, and few answers get this far.
        and _hit_chars(measures) >= STUFFING_REPEAT_COVERAGE * content_length(norm)
    ):
        return True
    return distinct >= STUFFING_MIN_HITS and not reference_is_list and _listed(norm)


def raise_flags(
    embedded: Embedded,
    norm: str,
    reference: PreparedReference,
    bank: Sequence[PreparedReference],
    measures: list[PointMeasure],
    overlap: float,
    states_result: bool,
) -> list[Flag]:
    """Flags, given `overlap`: the share of the answer's character bigrams found in the reference, and whether
    the answer is the reference's result formula (`lexical.formulas`: "2的n-1次方" shares one bigram with
    "…总数为2^(n-1)种" and says what it concludes)."""
    answer = embedded.answer
    length = content_length(answer)
    keyword_share = float(np.mean([m.keyword_share for m in measures]))
    if length == 0 or (_DONT_KNOW.search(norm) and keyword_share < 0.15 and length < 60):
        return [Flag.NON_ANSWER]
    flags: list[Flag] = []
    if not states_result and _off_topic(embedded, norm, reference, bank, measures, overlap):
        flags.append(Flag.OFF_TOPIC)
    if _stuffed(norm, measures, _is_list(reference.reference.reference_answer)):
        flags.append(Flag.KEYWORD_STUFFING)
    if length < TOO_SHORT_CHARS and overlap < SHORT_BUT_IN_REFERENCE and not states_result:
        flags.append(Flag.TOO_SHORT)
    if embedded.source is not None and embedded.source.repetitive:
        flags.append(Flag.REPETITIVE)
    answer_grams = _char_grams(answer)
    reference_answer = reference.reference.reference_answer
    if len(answer_grams) >= 20 and _reference_length(reference_answer) >= COPY_MIN_REFERENCE_CHARS:
        reference_grams = _char_grams(reference_answer)
        shared = len(answer_grams & reference_grams)
        if shared >= COPY_CONTAINMENT * len(answer_grams) and shared >= COPY_COVERAGE * len(reference_grams):
            flags.append(Flag.COPY_OF_REFERENCE)
    return flags
