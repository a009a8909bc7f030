"""Stage 1, read: the answer normalised (`normalize`), cut into clauses, windows and sentences (`text.spans`)
and embedded in one pass; and the answer's words with every keyword form found written as its term, for
lexical overlap with the reference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grader.embeddings import Embedder, Vectors, embed_spans
from grader.scoring import keywords
from grader.scoring.normalize import Normalised, normalise_answer
from grader.scoring.text import TextSpan, normalise, spans
from grader.scoring.types import Span


def lexical_text(norm: str, hits: Sequence[keywords.Hit]) -> str:
    """The normalised text with every keyword form found in it (a term, an alias in any language, a Chinese
    variant, a same-sound spelling) written as the keyword's term, for lexical overlap with the reference.

    Surface overlap then measures what is said, not the language or the synonym it is said in: "raise the
    temperature" and "调高温度系数" share the reference's bigrams alike. Overlapping hits: the earliest,
    then the longest, is rewritten.
    """
    if not hits:
        return norm
    out, at = [], 0
    for hit in sorted(hits, key=lambda h: (h.start, h.start - h.end)):
        if hit.start < at:
            continue
        term = normalise(hit.keyword)
        out += [norm[at : hit.start], term]
        at = hit.end
    out.append(norm[at:])
    return "".join(out)


@dataclass(frozen=True)
class Embedded:
    """An answer cut into spans, with one vector per span and one for the whole answer.

    `answer` is the normalised copy the grader reads (`normalize.normalise_answer`); spans index
    into it, and `source` maps them back to the answer as submitted.
    """

    answer: str
    spans: list[TextSpan]
    whole: np.ndarray
    vectors: Vectors
    source: Normalised | None = None

    def original_span(self, start: int, end: int) -> Span:
        if self.source is None:
            return Span(start=start, end=end, text=self.answer[start:end])
        s, e = self.source.original_span(start, end)
        return Span(start=s, end=e, text=self.source.original[s:e])


def embed_answers(answers: Sequence[str], embedder: Embedder) -> list[Embedded]:
    read = [normalise_answer(a) for a in answers]
    texts = [r.text for r in read]
    cut = [spans(t) for t in texts]
    items = [(t, [(0, len(t)), *((s.start, s.end) for s in sp)]) for t, sp in zip(texts, cut, strict=True)]
    vectors = embed_spans(embedder, items)
    return [Embedded(r.text, sp, v[0], v[1:], r) for r, sp, v in zip(read, cut, vectors, strict=True)]
