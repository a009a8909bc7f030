"""Stage 2, measure each key point: the best-matching span and its cosine, the keywords present and whether a
span about the point holds them, and (stage 3, `conflicts`) what the answer says against it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.scoring import keywords
from grader.scoring.conflicts import AnswerView, find_conflict
from grader.scoring.prepared import PreparedKeyPoint
from grader.scoring.types import Conflict

# A keyword counts only inside a span at least this close to its key point.
KEYWORD_CONTEXT = 0.4
# A span this close to a key point that holds any of its terms (not only one no other point uses) shows it.
CLOSE_SPAN = 0.6


@dataclass(frozen=True)
class PointMeasure:
    similarity: float
    best_span: int | None
    hits: dict[str, list[keywords.Hit]]
    contradiction: Conflict | None
    context: dict[str, float]  # per keyword: similarity to the key point of the best span holding a hit

    @property
    def keyword_share(self) -> float:
        """Share of keyword groups present in a span that is about the key point.

        A term dropped into an unrelated or empty sentence ("RLHF 很重要") shows no understanding.
        """
        in_context = sum(1 for term, h in self.hits.items() if h and self.context.get(term, 0.0) >= KEYWORD_CONTEXT)
        return in_context / max(len(self.hits), 1)


def measure_point(answer: AnswerView, point: PreparedKeyPoint) -> PointMeasure:
    hits = keywords.find_all(answer.norm, point.key_point.keywords)
    if not answer.embedded.spans:
        return PointMeasure(0.0, None, hits, None, {})
    per_span = (answer.embedded.vectors @ point.statement_vectors.T).max(axis=1)
    best = int(np.argmax(per_span))  # numpy 2.5 (Python 3.12+) stubs refuse ndarray.argmax() without an axis
    # Per term: the best similarity among the spans holding a hit of it, 0 where none is above 0.
    scores = per_span.tolist()
    context = {
        term: max([0.0, *(scores[i] for h in term_hits for i in answer.holding(h.start, h.end))])
        for term, term_hits in hits.items()
        if term_hits
    }
    verdict = find_conflict(answer, point, hits, per_span)
    return PointMeasure(float(per_span[best]), best, hits, verdict, context)
