"""Stage 0, once per reference: its key points' statements and misconceptions embedded, its claims in
canonical form (aliases written as their terms), what sets each misconception apart. Callers cache the
result by the reference's content hash; every answer to the reference reads it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from grader.embeddings import Embedder, Vectors
from grader.scoring import contradiction, keywords
from grader.scoring.reading import lexical_text
from grader.scoring.text import normalise
from grader.scoring.types import KeyPoint, Reference

CANONICAL_TERM_CHARS = 6


@dataclass(frozen=True)
class PreparedKeyPoint:
    key_point: KeyPoint
    statements: list[str]  # correct claims: the key point's own and reversals that stay true
    statement_vectors: Vectors
    misconceptions: list[str]  # curated, then reversals that falsify a statement
    misconception_vectors: Vectors


class UnitBound(NamedTuple):
    """What a span's units must hold for it to hold DISTINCTIVE_SHARE of one misconception's distinctive grams,
    tested in this order (`conflicts.find_conflict`): every unit in `required` (`contradiction.required_units`), at
    least `least` of the units the grams use (`contradiction.least_shared`), then the grams one by one
    (`contradiction.may_hold`)."""

    required: frozenset[str]
    used: frozenset[str]
    least: int
    needed: tuple[frozenset[str], ...]


@dataclass(frozen=True)
class PreparedReference:
    reference: Reference
    key_points: list[PreparedKeyPoint]
    answer_vector: np.ndarray
    embedder: str
    question_vector: np.ndarray

    @cached_property
    def canonical(self) -> tuple[re.Pattern[str] | None, dict[str, str]]:
        """Alias-to-term rewriting for this reference's keywords, for lexical comparison.

        Only terms of a word or two are substituted. An alias that the reference's own claims use by
        name ("GPT 是编码器模型" while GPT is listed under 解码器 as an example) names something in its
        own right and is left as written.
        """
        claims = " ".join(normalise(t) for p in self.key_points for t in (*p.statements, *p.misconceptions))
        all_keywords = [
            kw.model_copy(update={"aliases": [a for a in kw.aliases if not keywords.form_pattern(a).search(claims)]})
            for p in self.key_points
            for kw in p.key_point.keywords
            # A term that is a whole phrase ("低概率的词概率变大") would garble the text it replaces into.
            if len(kw.term) <= CANONICAL_TERM_CHARS
        ]
        return keywords.canonicaliser(all_keywords), keywords.alias_terms(all_keywords)

    def canonicalise(self, text: str) -> str:
        pattern, terms = self.canonical
        return keywords.canonicalise(text, pattern, terms)

    @cached_property
    def lexical_reference(self) -> str:
        """The reference answer with its keyword forms written as their terms (see `lexical_text`)."""
        return self._lexical(self.reference.reference_answer)

    @cached_property
    def lexical_points(self) -> tuple[str, ...]:
        """Each key point's text in the reference's lexical form: what an answer's swapped claim aligns to."""
        return tuple(self._lexical(p.key_point.text) for p in self.key_points)

    @cached_property
    def lexical_question(self) -> str:
        return self._lexical(self.reference.question)

    def _lexical(self, text: str) -> str:
        norm = normalise(text)
        return lexical_text(
            norm, [h for p in self.key_points for kw in p.key_point.keywords for h in keywords.find(norm, kw)]
        )

    @cached_property
    def own_grams(self) -> frozenset[str]:
        """Every gram of the reference's own correct texts: a span made only of these restates them."""
        texts = [*self.canonical_statements, self.canonicalise(self.reference.reference_answer)]
        return frozenset().union(*(contradiction.grams(t) for t in texts))

    @cached_property
    def own_texts(self) -> list[str]:
        return [*self.normalised_statements, normalise(self.reference.reference_answer)]

    @cached_property
    def statements(self) -> list[str]:
        return [s for p in self.key_points for s in p.statements]

    @cached_property
    def normalised_statements(self) -> list[str]:
        return [normalise(s) for s in self.statements]

    @cached_property
    def canonical_statements(self) -> list[str]:
        return [self.canonicalise(s) for s in self.statements]

    @cached_property
    def canonical_claims(self) -> list[tuple[int, str]]:
        """Each correct statement, and each of its clauses, with the index of the statement.

        Misconceptions are also checked clause by clause; a span must be compared with correct
        claims of the same size, or a short wrong clause would outweigh a long right statement.
        """
        out = []
        for j, statement in enumerate(self.canonical_statements):
            out.append((j, statement))
            out.extend((j, clause) for clause in contradiction.claim_clauses(statement))
        return out

    @cached_property
    def canonical_misconceptions(self) -> dict[str, list[tuple[str, frozenset[str]]]]:
        """Per key point: each misconception (canonical) with what sets it apart from the truth.

        The distinctive grams are those the misconception does not share with the correct statement
        closest to it: for a reversal, exactly the swapped direction. An answer must say those to
        assert the misconception, not merely talk about the same things.
        """
        statement_grams = [contradiction.claim_grams(c) for c in self.canonical_statements]
        out: dict[str, list[tuple[str, frozenset[str]]]] = {}
        for p in self.key_points:
            entries = []
            for m in p.misconceptions:
                claim = self.canonicalise(m)
                wrong = contradiction.claim_grams(claim)
                nearest = max(statement_grams, key=lambda g: len(g & wrong) / max(len(g | wrong), 1))
                entries.append((claim, frozenset(wrong - nearest)))
            out[p.key_point.id] = entries
        return out

    @cached_property
    def distinctive_units(self) -> dict[str, list[tuple[frozenset[str], ...]]]:
        """Per key point, for each misconception the units of each of its distinctive grams (in `canonical_
        misconceptions`' order): a span without enough of them cannot say what sets the misconception apart."""
        return {
            kp_id: [tuple(contradiction.gram_units(g) for g in sorted(distinctive)) for _, distinctive in entries]
            for kp_id, entries in self.canonical_misconceptions.items()
        }

    @cached_property
    def unit_bounds(self) -> dict[str, list[UnitBound]]:
        """Per key point, for each misconception (in `canonical_misconceptions`' order) the tests of a span's units
        that its distinctive grams allow, cheapest first (`UnitBound`)."""
        return {
            kp_id: [
                UnitBound(
                    contradiction.required_units(needed, contradiction.DISTINCTIVE_SHARE),
                    frozenset().union(*needed),
                    contradiction.least_shared(needed, contradiction.DISTINCTIVE_SHARE),
                    needed,
                )
                for needed in entries
            ]
            for kp_id, entries in self.distinctive_units.items()
        }

    @cached_property
    def distinctive_terms(self) -> dict[str, frozenset[str]]:
        """Per key point, the keyword groups no other key point of the reference uses.

        "减少重复" names q12's temperature point; it is no sign that an answer talked about the reward
        model, even though the reward-model point lists 重复 and 减少 too. Feedback says an answer made a
        point only on evidence of that point. A key point with no group of its own keeps them all.
        """
        out = {}
        for p in self.key_points:
            others = " ".join(
                normalise(t)
                for q in self.key_points
                if q is not p
                for t in (*q.statements, *(kw.term for kw in q.key_point.keywords))
            )
            own = frozenset(kw.term for kw in p.key_point.keywords if not keywords.find(others, kw))
            out[p.key_point.id] = own or frozenset(kw.term for kw in p.key_point.keywords)
        return out

    @cached_property
    def statement_vectors(self) -> Vectors:
        return np.vstack([p.statement_vectors for p in self.key_points])


def prepare_reference(reference: Reference, embedder: Embedder) -> PreparedReference:
    """Embed everything about a reference once; callers cache the result by content hash."""
    plans = []
    for kp in reference.key_points:
        statements = kp.all_statements()
        wrong = list(kp.misconceptions)
        for statement in statements:
            # Reverse the whole statement and each of its clauses: a candidate who swaps one clause
            # ("解码器模型专注文本理解") says far less than the whole statement it falsifies.
            for claim in dict.fromkeys([statement, *contradiction.claim_clauses(statement)]):
                false_variants, true_variants = contradiction.reversals(claim)
                wrong += [v for v in false_variants if v not in wrong]
                statements = statements + [v for v in true_variants if v not in statements]
        plans.append((kp, statements, wrong))
    texts = [reference.reference_answer, reference.question] + [t for _, st, wr in plans for t in (*st, *wr)]
    vectors = embedder.encode(texts)
    prepared, offset = [], 2
    for kp, statements, wrong in plans:
        n_s, n_w = len(statements), len(wrong)
        prepared.append(
            PreparedKeyPoint(
                key_point=kp,
                statements=statements,
                statement_vectors=vectors[offset : offset + n_s],
                misconceptions=wrong,
                misconception_vectors=vectors[offset + n_s : offset + n_s + n_w],
            )
        )
        offset += n_s + n_w
    return PreparedReference(reference, prepared, vectors[0], embedder.name, vectors[1])
