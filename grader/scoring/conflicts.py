"""Stage 3, check claims: whether the answer contradicts a key point — a misconception it reads like, a term of
a curated point it negates, a direction it reverses, a quality or a verdict it turns round — as a structured `Conflict`
(rule, claim, span)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from grader.scoring import claims, contradiction, direction, keywords, verdict
from grader.scoring.prepared import PreparedKeyPoint, PreparedReference
from grader.scoring.reading import Embedded
from grader.scoring.text import normalise
from grader.scoring.types import Conflict, ConflictRule, KeyPoint

# Spans this close to a key point (cosine) are checked for contradicting it even without its terms; so are
# spans this close to one of its misconceptions: "温度越小输出越随机" is about the point it gets wrong though it
# names none of that point's terms.
ABOUT_SIMILARITY = 0.55
ECHOES_MISCONCEPTION = 0.85
# A span contradicts a key point when it reads this much more like a misconception than like any
# correct statement (cosine + LEXICAL_WEIGHT x character overlap), and holds most of the
# misconception's characters.
CONTRADICTION_MARGIN = 0.05
LEXICAL_WEIGHT = 1.0
MISCONCEPTION_CONTAINMENT = 0.5
# ... and at least `contradiction.DISTINCTIVE_SHARE` of what sets it apart from the nearest correct statement.


@dataclass
class AnswerView:
    """One answer under examination against one reference, with what is shared across key points: read once
    per answer, not once per key point."""

    embedded: Embedded
    norm: str
    reference: PreparedReference
    _canonical: dict[int, str]
    _correctness: dict[int, float]
    _grams: dict[int, frozenset[str]]
    _units: dict[int, frozenset[str]]
    _holding: dict[tuple[int, int], tuple[int, ...]]

    @classmethod
    def of(cls, embedded: Embedded, reference: PreparedReference) -> AnswerView:
        return cls(embedded, normalise(embedded.answer), reference, {}, {}, {}, {}, {})

    @cached_property
    def to_correct(self) -> np.ndarray:
        """(spans, every correct statement of the reference): read only for the few spans that may assert a
        misconception (`correctness`), so made only when one does."""
        product: np.ndarray = self.embedded.vectors @ self.reference.statement_vectors.T
        return product

    def canonical_span(self, i: int) -> str:
        if i not in self._canonical:
            self._canonical[i] = self.reference.canonicalise(self.embedded.spans[i].text)
        return self._canonical[i]

    def spans_holding(self, positions: list[tuple[int, int]]) -> np.ndarray:
        """For each span, whether it holds any of these (start, end) character ranges: read from `holding`, which
        `measure_point` has looked up for every keyword hit already."""
        held = np.zeros(len(self.embedded.spans), dtype=bool)
        held[[i for start, end in positions for i in self.holding(start, end)]] = True
        return held

    def holding(self, start: int, end: int) -> tuple[int, ...]:
        """The spans that hold this character range (a keyword hit): a few hits, each looked up by every key
        point that names its term, where an array per term cost more than the spans it reads."""
        key = (start, end)
        if key not in self._holding:
            spans = self.embedded.spans
            self._holding[key] = tuple(i for i, s in enumerate(spans) if s.start <= start and end <= s.end)
        return self._holding[key]

    @cached_property
    def one_claim(self) -> np.ndarray:
        """For each span, whether it can assert a misconception: a clause or window (not a whole sentence)
        within one sentence, without parallel clauses (a window over two sentences, or parallel clauses,
        mixes two claims: "调高更平均；调低更确定")."""
        return np.array(
            [
                span.level != 0
                and not contradiction.crosses_sentences(span.text)
                and not contradiction.parallel_clauses(span.text)
                for span in self.embedded.spans
            ],
            dtype=bool,
        )

    @cached_property
    def turnable(self) -> tuple[claims.Turnable, ...]:
        """The answer's clauses that could turn a quality of the reference round (`claims.turnable`)."""
        return claims.turnable(self.norm, self.reference.reference.reference_answer)

    def correctness(self, i: int) -> float:
        """How much span i reads like the closest correct statement of the reference."""
        if i not in self._correctness:
            held = self.span_grams(i)
            self._correctness[i] = max(
                float(self.to_correct[i, j]) + LEXICAL_WEIGHT * contradiction.containment(held, claim)
                for j, claim in self.reference.canonical_claims
            )
        return self._correctness[i]

    def span_units(self, i: int) -> frozenset[str]:
        """The units span i's grams are made of: far cheaper than the grams, which pair them."""
        if i not in self._units:
            self._units[i] = contradiction.units_of(self.canonical_span(i))
        return self._units[i]

    def span_grams(self, i: int) -> frozenset[str]:
        if i not in self._grams:
            self._grams[i] = contradiction.grams(self.canonical_span(i))
        return self._grams[i]


def _negation(answer: AnswerView, point: KeyPoint, term_positions: list[tuple[int, int]]) -> Conflict | None:
    """A key term the answer negates where no correct statement of the reference negates or
    suppresses it ("V 不旋转" is right when a statement says "value 不旋转")."""
    for start, end in contradiction.negated_terms(answer.norm, term_positions):
        term = answer.norm[start:end]
        if _clause_around(answer.norm, start, end) in "\n".join(answer.reference.own_texts):
            continue  # the reference says these very words
        if not any(contradiction.denied_or_suppressed(s, term) for s in answer.reference.normalised_statements):
            return Conflict(
                rule=ConflictRule.NEGATION, claim=point.text, span=answer.embedded.original_span(start, end)
            )
    return None


def _clause_around(text: str, start: int, end: int) -> str:
    left = max(text.rfind(ch, 0, start) for ch in "，,。；;！!？?\n") + 1
    rights = [i for i in (text.find(ch, end) for ch in "，,。；;！!？?\n") if i >= 0]
    return text[left : min(rights, default=len(text))].strip()


def find_conflict(
    answer: AnswerView, point: PreparedKeyPoint, hits: dict[str, list[keywords.Hit]], per_span: np.ndarray
) -> Conflict | None:
    """The misconception or cue the answer asserts against this key point, if any.

    A span is compared with every correct statement of the whole reference: a span that states
    another key point correctly is not contradicting this one.
    """
    opposite = verdict.turned(answer.norm, point.key_point.text)
    if opposite is not None:
        return Conflict(
            rule=ConflictRule.VERDICT, claim=point.key_point.text, span=answer.embedded.original_span(*opposite)
        )
    term_positions = [(h.start, h.end) for term_hits in hits.values() for h in term_hits]
    # The negation cue needs statements a person has checked: a generated key point is a cut of the
    # reference text, and answers that negate its terms are as often right ("不考虑栈的溢出", "不需要
    # 插入删除时用顺序表") -- on the ADS set the cue fired on 14% of answers with a human mean of 8.4/10.
    # A term matched by its sound may be another word altogether (结点 for 节点): not negated on a guess.
    negated = (
        _negation(
            answer,
            point.key_point,
            [(h.start, h.end) for term_hits in hits.values() for h in term_hits if not h.by_sound],
        )
        if point.key_point.curated
        else None
    )
    if negated:
        return negated
    turned = direction.reversed_in(answer.norm, point.key_point, hits)
    if turned is not None:
        return Conflict(
            rule=ConflictRule.DIRECTION, claim=point.key_point.text, span=answer.embedded.original_span(*turned)
        )
    turned_round = claims.turned_round_in(answer.turnable, point.key_point.text)
    if turned_round is not None:
        return Conflict(
            rule=ConflictRule.OPPOSITE, claim=point.key_point.text, span=answer.embedded.original_span(*turned_round)
        )
    if not point.misconceptions:
        return None
    reference = answer.reference
    to_wrong = answer.embedded.vectors @ point.misconception_vectors.T
    carries_term = answer.spans_holding(term_positions)
    about = carries_term | (per_span >= ABOUT_SIMILARITY) | (to_wrong.max(axis=1) >= ECHOES_MISCONCEPTION)
    wrong_claims = reference.canonical_misconceptions[point.key_point.id]
    bounds = reference.unit_bounds[point.key_point.id]
    for i in np.flatnonzero(about & answer.one_claim).tolist():
        # A bound from the span's units alone, before its grams: a span short of DISTINCTIVE_SHARE of every
        # misconception's distinctive grams fails the test below for each one (97% of the spans checked on the
        # dev set; pairing their units was most of the conflict checks' cost). A misconception whose required
        # units the span lacks is ruled out before its grams are counted (63% of those tests on the dev set), and
        # then one the span shares too few units with (70% of the rest: `prepared.UnitBound`).
        units = answer.span_units(i)
        if not any(
            required <= units
            and len(units & used) >= least
            and contradiction.may_hold(units, needed, contradiction.DISTINCTIVE_SHARE)
            for required, used, least, needed in bounds
        ):
            continue
        span = answer.embedded.spans[i]
        span_grams = answer.span_grams(i)
        if span_grams <= reference.own_grams:
            continue  # every word pair of the span is in the reference's own correct texts
        for j, (wrong_text, (claim, distinctive)) in enumerate(zip(point.misconceptions, wrong_claims, strict=True)):
            # No distinctive grams: lexically the same as a correct statement, nothing to tell apart.
            if not distinctive or len(distinctive & span_grams) / len(distinctive) < contradiction.DISTINCTIVE_SHARE:
                continue  # the span does not say what sets the misconception apart
            held = contradiction.containment(span_grams, claim)
            if held < MISCONCEPTION_CONTAINMENT:
                continue
            if float(to_wrong[i, j]) + LEXICAL_WEIGHT * held - answer.correctness(i) > CONTRADICTION_MARGIN:
                return Conflict(
                    rule=ConflictRule.MISCONCEPTION,
                    claim=wrong_text,
                    span=answer.embedded.original_span(span.start, span.end),
                )
    return None
