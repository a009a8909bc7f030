"""Scoring one answer against its reference, one stage a module, in the order an answer flows:

read (`reading`: normalise, spans, embed) -> measure each key point (`measure`) -> check its claims
(`conflicts`) -> flags (`flags`) -> key point states, score and confidence (here, with `calibration`)
-> feedback (`feedback`). The reference side is prepared once (`prepared`). Same input, same output:
nothing here is random, and the one cache (the bank's stacked vectors) is keyed by content.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grader.scoring import claims, lexical, model, verdict
from grader.scoring.calibration import (
    Calibration,
    Signals,
    cap_for,
    contradicted_weight,
    coverage,
    credits,
    settle,
)
from grader.scoring.conflicts import AnswerView
from grader.scoring.feedback import COVERED_CREDIT, PARTIAL_CREDIT, write_feedback
from grader.scoring.flags import raise_flags
from grader.scoring.measure import CLOSE_SPAN, KEYWORD_CONTEXT, PointMeasure, measure_point
from grader.scoring.prepared import PreparedReference
from grader.scoring.reading import Embedded, lexical_text
from grader.scoring.types import (
    Conflict,
    ConflictRule,
    Flag,
    KeyPointResult,
    KeyPointState,
    Provenance,
    ScoreResult,
)

# 1.1: answers normalised before grading (normalize.py), direction reversals, repetitive.
# 1.2: the score placed and its confidence read by the label model (calibration.py, model.decide).
# 1.3: fitted on the interview banks too, with claims, rarity-weighted term recall, residual trees; key points
#      carry states (a missed point adds nothing) and a conflict in an otherwise strong answer is disputed.
# 1.4: a verdict turned round is a conflict (`verdict`); verdict agreement and formula precision are features.
# 1.5: a keyword naming a quality with 性 (随机性) is found where the answer says its adjective (越随机); claims
#      are read at the pauses of unpunctuated speech, and a list of siblings is no swap; the share of the
#      answer in the script its reference does not use is a feature (overlaps undercount English answers).
# 1.6: lengths count a Latin word as 1.7 reading units, a Chinese word's length (`lexical.reading_length`).
# 1.7: a terse answer that is its reference's result formula is a feature (`lexical.formulas`: "2的n-1次方" read as
#      2^(n-1); "1" is no longer a number "2^(n-1)" states).
SCORING_VERSION = "1.7"


@dataclass(frozen=True)
class _Analysis:
    """What the stages up to the score found in one answer."""

    answer: AnswerView
    measures: list[PointMeasure]
    flags: list[Flag]
    signals: Signals
    claims: claims.ClaimCheck


def _analyse(embedded: Embedded, reference: PreparedReference, bank: Sequence[PreparedReference]) -> _Analysis:
    answer = AnswerView.of(embedded, reference)
    measures = [measure_point(answer, p) for p in reference.key_points]
    # Lexical overlap on the answer and the reference with every keyword form the engine matched written as
    # its term: an answer in English, with a synonym or a same-sound misspelling is measured on what it says.
    said = lexical_text(answer.norm, [h for m in measures for hs in m.hits.values() for h in hs])
    lexical_reference = reference.lexical_reference
    formula_precision, states_result = lexical.formulas(said, lexical_reference)
    precision, recall, f1 = lexical.bigram_overlap(said, lexical_reference)
    flags = raise_flags(embedded, answer.norm, reference, bank, measures, precision, states_result)
    novel_precision, novel_recall = lexical.novel_overlap(said, lexical_reference, reference.lexical_question)
    groups = [bool(h) for m in measures for h in m.hits.values()]
    whole = float(embedded.whole @ reference.answer_vector) if embedded.spans else 0.0
    nearest_other = _nearest_other(bank, reference, embedded) if embedded.spans else whole
    checked = claims.check(said, lexical_reference)
    signals = Signals(
        weights=[p.key_point.weight for p in reference.key_points],
        similarities=[m.similarity for m in measures],
        keyword_shares=[m.keyword_share for m in measures],
        contradicted=[m.contradiction is not None for m in measures],
        whole_similarity=whole,
        flags=[f.value for f in flags],
        curated=[p.key_point.curated for p in reference.key_points],
        keyword_presence=sum(groups) / max(len(groups), 1),
        bigram_precision=precision,
        bigram_recall=recall,
        bigram_f1=f1,
        novel_precision=novel_precision,
        novel_recall=novel_recall,
        opposite_swaps=lexical.opposite_swaps(said, lexical_reference),
        token_recall=lexical.token_recall(said, lexical_reference),
        term_recall=lexical.term_recall(said, lexical_reference, reference.lexical_question),
        question_similarity=float(embedded.whole @ reference.question_vector) if embedded.spans else 0.0,
        own_margin=whole - nearest_other,
        answer_clauses=checked.answer_clauses,
        claim_clauses=checked.clauses,
        claim_novel=checked.novel,
        claim_swapped=len(checked.swapped),
        claim_negated=len(checked.negated),
        verdict=verdict.agreement(answer.norm, reference.reference.reference_answer),
        expression_precision=formula_precision,
        states_result=states_result,
        other_script=lexical.other_script_share(said, lexical_reference),
        # Lengths in reading units (a CJK character 1, a Latin word 1.7, the length of a Chinese word):
        # characters would make an English answer four times as long as its Chinese twin.
        answer_chars=lexical.answer_length(said),
        reference_chars=lexical.reference_units(lexical_reference),
    )
    return _Analysis(answer, measures, flags, signals, checked)


def _swaps(
    checked: claims.ClaimCheck, answer: AnswerView, measures: Sequence[PointMeasure], reference: PreparedReference
) -> list[Conflict | None]:
    """For each key point, the answer's clause that says its claim with a sibling term swapped in
    (`claims.Swap`: 共享 where it says 私有), if one does and the point's evidence holds that clause.

    Not a contradiction the score trusts: on the labelled sets it names 5 of 512 correct answers against 8 of
    276 wrong ones (a term of one list read as another's, a fragment of a key point aligned by two words). The
    calibration reads how many swaps an answer makes; here the clause is named on the key point it turns, so a
    reviewer sees it (`score_embedded`)."""
    if not checked.swaps:
        return [None] * len(reference.key_points)
    # The clauses were read on the answer with its keyword forms written as their terms; the same cuts fall in
    # the same places of the answer as written unless an alias itself holds a clause mark. Where they do not,
    # the clause cannot be shown, and nothing is named that cannot be shown.
    bounds = claims.clause_bounds(answer.norm)
    if len(bounds) != checked.answer_clauses:
        return [None] * len(reference.key_points)
    out: list[Conflict | None] = []
    for point, text, measure in zip(reference.key_points, reference.lexical_points, measures, strict=True):
        # Only where the point's evidence (the span the table quotes for it) holds the clause: a point shown on
        # another span was not read from the swapped clause ("温度越小输出越保守" next to a correct "温度越大……").
        evidence = answer.embedded.spans[measure.best_span] if measure.best_span is not None else None
        swap = next(
            (
                s
                for s in checked.swaps
                if evidence is not None
                and evidence.start < bounds[s.clause][1]
                and bounds[s.clause][0] < evidence.end
                and any(claims.states_pair(text, q) for q in s.turned_back)
            ),
            None,
        )
        if swap is None:
            out.append(None)
            continue
        start, end = bounds[swap.clause]
        span = answer.embedded.original_span(start, end)
        out.append(Conflict(rule=ConflictRule.SWAP, claim=point.key_point.text, span=span))
    return out


class _BankVectors:
    """The bank's reference-answer vectors stacked once and reused while the same bank is graded: stacking
    them for every answer cost a copy of the whole bank per answer (5,000 questions: ~10 MB). Keyed by what
    the vectors are (each reference's content hash and embedder), not by the objects: a batch passes each
    answer a new list of peers with its own question prepared in full. One tuple, replaced whole, so threads
    grading different banks never read a mix of two."""

    def __init__(self) -> None:
        self._last: tuple[tuple[tuple[str, str], ...], np.ndarray, np.ndarray] = ((), np.zeros(0), np.zeros((0, 0)))

    def of(self, bank: Sequence[PreparedReference]) -> tuple[np.ndarray, np.ndarray]:
        """(question ids, their reference-answer vectors stacked)."""
        key = tuple((r.reference.content_hash, r.embedder) for r in bank)
        last = self._last
        if key != last[0]:
            matrix = np.vstack([r.answer_vector for r in bank]) if bank else np.zeros((0, 0))
            last = (key, np.array([r.reference.id for r in bank]), matrix)
            self._last = last
        return last[1], last[2]


_STACKED = _BankVectors()


def _nearest_other(bank: Sequence[PreparedReference], reference: PreparedReference, embedded: Embedded) -> float:
    """The answer's best cosine to another question's reference in the bank (an answer to that question)."""
    ids, matrix = _STACKED.of(bank)
    others = ids != reference.reference.id
    if not others.any():
        return float(embedded.whole @ reference.answer_vector)
    return float((matrix @ embedded.whole)[others].max())


def measure_signals(embedded: Embedded, reference: PreparedReference, bank: Sequence[PreparedReference]) -> Signals:
    """The calibration inputs alone, for fitting (`grader calibrate`): conflicts taken as found."""
    found = _analyse(embedded, reference, bank)
    states = _states(found.signals, found.measures, reference)
    return _counted(found.signals, states, _swaps(found.claims, found.answer, found.measures, reference))


def _evidenced(measure: PointMeasure, distinctive: frozenset[str]) -> bool:
    """Whether the answer shows this key point: one of its own terms in a span about it, a span close to
    it holding any of its terms, or a span that reads as a paraphrase of it."""
    if measure.similarity >= model.SIM_CEILING:
        return True
    in_context = [t for t, h in measure.hits.items() if h and measure.context.get(t, 0.0) >= KEYWORD_CONTEXT]
    return any(t in distinctive for t in in_context) or (bool(in_context) and measure.similarity >= CLOSE_SPAN)


def _states(signals: Signals, measures: Sequence[PointMeasure], reference: PreparedReference) -> list[KeyPointState]:
    """Each key point's state: covered or partial only with evidence in the answer (its credit, and one of its
    own terms in a span about it or a paraphrase of it); a conflict found makes it contradicted (disputed, where
    the answer is otherwise strong, is `calibration.settle`'s to say)."""
    states = []
    cleared = signals.model_copy(update={"contradicted": [False] * len(measures)})
    for point, measure, credit in zip(reference.key_points, measures, credits(cleared), strict=True):
        if measure.contradiction is not None:
            states.append(KeyPointState.CONTRADICTED)
        elif not _evidenced(measure, reference.distinctive_terms[point.key_point.id]) or credit < PARTIAL_CREDIT:
            states.append(KeyPointState.MISSED)
        else:
            states.append(KeyPointState.COVERED if credit >= COVERED_CREDIT else KeyPointState.PARTIAL)
    return states


def _counted(signals: Signals, states: Sequence[KeyPointState], swaps: Sequence[Conflict | None]) -> Signals:
    """Signals as the calibration reads them: a missed or contradicted key point adds nothing to the score; a
    point counted on a clause that may swap a sibling term in is marked (`calibration.settle` routes it)."""
    return signals.model_copy(
        update={
            "counted": [s in (KeyPointState.COVERED, KeyPointState.PARTIAL, KeyPointState.DISPUTED) for s in states],
            "contradicted": [s is KeyPointState.CONTRADICTED for s in states],
            "swapped": [_swap_stands(s, swap) for s, swap in zip(states, swaps, strict=True)],
        }
    )


def _swap_stands(state: KeyPointState, swap: Conflict | None) -> bool:
    """A swap is named on a point the answer was credited for; a contradicted or missed point already earns
    nothing."""
    return swap is not None and state in (KeyPointState.COVERED, KeyPointState.PARTIAL)


def score_embedded(
    embedded: Embedded,
    reference: PreparedReference,
    bank: Sequence[PreparedReference],
    calibration: Calibration,
) -> ScoreResult:
    analysis = _analyse(embedded, reference, bank)
    measures, flags, found = analysis.measures, analysis.flags, analysis.signals
    states = _states(found, measures, reference)
    swaps = _swaps(analysis.claims, analysis.answer, measures, reference)
    settled = settle(calibration, _counted(found, states, swaps))
    signals, assessed = settled.signals, settled.assessment
    if settled.disputed:
        # A contradicted key point in an answer strong without it: scored halfway, a person decides.
        states = [KeyPointState.DISPUTED if s is KeyPointState.CONTRADICTED else s for s in states]
    if settled.conflict:
        flags = [*flags, Flag.CONFLICT]
    conflicts = [m.contradiction for m in measures]
    for i, swap in enumerate(swaps):
        # A point counted on a clause that may say it with a sibling swapped in: its credit stands (the
        # calibration has weighed the swap) and the clause is named; `settle` sent a strong answer to a person.
        if signals.swapped[i]:
            states[i], conflicts[i] = KeyPointState.DISPUTED, swap
    total = assessed.score
    point_credits = credits(signals)
    results = []
    for point, measure, credit, state, conflict in zip(
        reference.key_points, measures, point_credits, states, conflicts, strict=True
    ):
        kp = point.key_point
        evidence = None
        if measure.best_span is not None:
            span = embedded.spans[measure.best_span]
            evidence = embedded.original_span(span.start, span.end)
        shown = (
            0.0 if state in (KeyPointState.MISSED, KeyPointState.CONTRADICTED) or Flag.NON_ANSWER in flags else credit
        )
        results.append(
            KeyPointResult(
                id=kp.id,
                text=kp.text,
                weight=kp.weight,
                credit=round(min(max(shown, 0.0), 1.0), 3),
                similarity=round(measure.similarity, 4),
                keywords_hit=[t for t, h in measure.hits.items() if h],
                keywords_missed=[t for t, h in measure.hits.items() if not h],
                evidence=evidence,
                contradicted=state is KeyPointState.CONTRADICTED,
                contradiction=conflict.describe() if conflict else None,
                state=state,
                conflict=conflict,
            )
        )
    cap = cap_for(calibration, signals.flags)
    return ScoreResult(
        question_id=reference.reference.id,
        score=total,
        key_points=results,
        flags=flags,
        confidence=assessed.confidence,
        feedback=write_feedback(results, flags, total),
        provenance=Provenance(
            scoring_version=SCORING_VERSION,
            embedder=reference.embedder,
            reference_hash=reference.reference.content_hash,
            calibration=calibration.version,
        ),
        signals={
            "whole_similarity": round(signals.whole_similarity, 4),
            "coverage": round(coverage(signals), 4),
            "contradicted_weight": round(contradicted_weight(signals), 4),
            # Why the score is where it is: the ranking model's score, and the label model's probability that
            # a person's mark is 3+ points from the one shown (what the confidence reads).
            "ranking_score": round(assessed.ranking_score, 1),
            "big_error_risk": round(assessed.big_error_risk, 3),
            **({"cap": cap} if cap is not None else {}),
        },
    )
