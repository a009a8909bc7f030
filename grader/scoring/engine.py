"""Scoring one answer against its reference: score(answer, reference, bank, embedder, calibration).

Flow: segment the answer into clauses and short windows (character offsets kept), embed them in
one pass, and per key point take the best-matching span, its similarity and the keywords present;
withhold credit where the answer contradicts the point; raise flags for answers the similarity
cannot judge (off-topic, keyword lists, non-answers, very short, copied reference); calibrate to
0–100 and explain. Same input, same output: nothing here is random or stateful.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache

import numpy as np

from grader.embeddings import Embedder, Vectors, embed_spans
from grader.scoring import claims, contradiction, direction, keywords, lexical, model
from grader.scoring.calibration import (
    Calibration,
    Signals,
    assess,
    cap_for,
    contradicted_weight,
    coverage,
    credits,
)
from grader.scoring.feedback import COVERED_CREDIT, PARTIAL_CREDIT, write_feedback
from grader.scoring.normalize import Normalised, normalise_answer
from grader.scoring.text import TextSpan, clause_count, content_length, normalise, spans
from grader.scoring.types import (
    Conflict,
    ConflictRule,
    Flag,
    KeyPoint,
    KeyPointResult,
    KeyPointState,
    Provenance,
    Reference,
    ScoreResult,
    Span,
)

# 1.1: answers normalised before grading (normalize.py), direction reversals, repetitive.
# 1.2: the score placed and its confidence read by the label model (calibration.py, model.decide).
# 1.3: fitted on the interview banks too, with claims, rarity-weighted term recall, residual trees; key points
#      carry states (a missed point adds nothing) and a conflict in an otherwise strong answer is disputed.
SCORING_VERSION = "1.3"

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
# ... and at least this share of what sets the misconception apart from the nearest correct statement.
DISTINCTIVE_SHARE = 0.7

CANONICAL_TERM_CHARS = 6
# A keyword counts only inside a span at least this close to its key point.
KEYWORD_CONTEXT = 0.4
# A span this close to a key point that holds any of its terms (not only one no other point uses) shows it.
CLOSE_SPAN = 0.6

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
# A conflict found in an answer that scores at least STRONG_ELSEWHERE without it, and loses CONFLICT_DROP or
# more points with it, is disputed rather than trusted: the score shown is halfway between the two readings
# and the grade's confidence at most CONFLICT_CONFIDENCE (below the review threshold).
STRONG_ELSEWHERE = 60.0
CONFLICT_DROP = 25.0
CONFLICT_CONFIDENCE = 0.45

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


@dataclass(frozen=True)
class PreparedKeyPoint:
    key_point: KeyPoint
    statements: list[str]  # correct claims: the key point's own and reversals that stay true
    statement_vectors: Vectors
    misconceptions: list[str]  # curated, then reversals that falsify a statement
    misconception_vectors: Vectors


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
    def is_list(self) -> bool:
        return _listed(normalise(self.reference.reference_answer))

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


@dataclass(frozen=True)
class _PointMeasure:
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


@dataclass
class _Answer:
    """One answer under examination against one reference, with what is shared across key points."""

    embedded: Embedded
    norm: str
    reference: PreparedReference
    to_correct: np.ndarray  # (spans, every correct statement of the reference)
    _canonical: dict[int, str]
    _correctness: dict[int, float]
    _grams: dict[int, frozenset[str]]

    @classmethod
    def of(cls, embedded: Embedded, reference: PreparedReference) -> _Answer:
        to_correct = embedded.vectors @ reference.statement_vectors.T
        return cls(embedded, normalise(embedded.answer), reference, to_correct, {}, {}, {})

    def canonical_span(self, i: int) -> str:
        if i not in self._canonical:
            self._canonical[i] = self.reference.canonicalise(self.embedded.spans[i].text)
        return self._canonical[i]

    def spans_holding(self, positions: list[tuple[int, int]]) -> np.ndarray:
        """For each span, whether it holds any of these (start, end) character ranges."""
        if not positions:
            return np.zeros(len(self.embedded.spans), dtype=bool)
        bounds = np.array([(s.start, s.end) for s in self.embedded.spans]).reshape(-1, 2)
        terms = np.array(positions)
        inside = (bounds[:, :1] <= terms[None, :, 0]) & (terms[None, :, 1] <= bounds[:, 1:])
        return np.asarray(inside.any(axis=1), dtype=bool)

    def correctness(self, i: int) -> float:
        """How much span i reads like the closest correct statement of the reference."""
        if i not in self._correctness:
            held = self.span_grams(i)
            self._correctness[i] = max(
                float(self.to_correct[i, j]) + LEXICAL_WEIGHT * contradiction.containment(held, claim)
                for j, claim in self.reference.canonical_claims
            )
        return self._correctness[i]

    def span_grams(self, i: int) -> frozenset[str]:
        if i not in self._grams:
            self._grams[i] = contradiction.grams(self.canonical_span(i))
        return self._grams[i]


def _measure_point(answer: _Answer, point: PreparedKeyPoint) -> _PointMeasure:
    hits = keywords.find_all(answer.norm, point.key_point.keywords)
    if not answer.embedded.spans:
        return _PointMeasure(0.0, None, hits, None, {})
    per_span = (answer.embedded.vectors @ point.statement_vectors.T).max(axis=1)
    best = int(np.argmax(per_span))  # numpy 2.5 (Python 3.12+) stubs refuse ndarray.argmax() without an axis
    context = {
        term: float(per_span[answer.spans_holding([(h.start, h.end) for h in term_hits])].max(initial=0.0))
        for term, term_hits in hits.items()
        if term_hits
    }
    verdict = _contradiction(answer, point, hits, per_span)
    return _PointMeasure(float(per_span[best]), best, hits, verdict, context)


def _negation(answer: _Answer, point: KeyPoint, term_positions: list[tuple[int, int]]) -> Conflict | None:
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


def _contradiction(
    answer: _Answer, point: PreparedKeyPoint, hits: dict[str, list[keywords.Hit]], per_span: np.ndarray
) -> Conflict | None:
    """The misconception or cue the answer asserts against this key point, if any.

    A span is compared with every correct statement of the whole reference: a span that states
    another key point correctly is not contradicting this one.
    """
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
    if not point.misconceptions:
        return None
    reference = answer.reference
    to_wrong = answer.embedded.vectors @ point.misconception_vectors.T
    carries_term = answer.spans_holding(term_positions)
    about = carries_term | (per_span >= ABOUT_SIMILARITY) | (to_wrong.max(axis=1) >= ECHOES_MISCONCEPTION)
    for i, span in enumerate(answer.embedded.spans):
        if span.level == 0 or not about[i]:
            continue
        if contradiction.crosses_sentences(span.text) or contradiction.parallel_clauses(span.text):
            continue  # a window over two sentences, or parallel clauses, mixes two claims ("调高更平均；调低更确定")
        span_grams = answer.span_grams(i)
        if span_grams <= reference.own_grams:
            continue  # every word pair of the span is in the reference's own correct texts
        wrong_claims = reference.canonical_misconceptions[point.key_point.id]
        for j, (wrong_text, (claim, distinctive)) in enumerate(zip(point.misconceptions, wrong_claims, strict=True)):
            # No distinctive grams: lexically the same as a correct statement, nothing to tell apart.
            if not distinctive or len(distinctive & span_grams) / len(distinctive) < DISTINCTIVE_SHARE:
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


def _fit(embedded: Embedded, norm: str, ref: PreparedReference) -> tuple[float, float]:
    """How well an answer fits a question: (whole-answer cosine, share of its keywords present)."""
    groups = [kw for p in ref.key_points for kw in p.key_point.keywords]
    share = sum(1 for kw in groups if keywords.find(norm, kw)) / max(len(groups), 1)
    return float(embedded.whole @ ref.answer_vector), share


def _off_topic(
    embedded: Embedded,
    norm: str,
    reference: PreparedReference,
    bank: Sequence[PreparedReference],
    measures: list[_PointMeasure],
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
    others = [_fit(embedded, norm, r) for r in bank if r.reference.id != reference.reference.id]
    return any(s > similarity + OFF_TOPIC_MARGIN or k > share + OFF_TOPIC_MAX_KEYWORDS for s, k in others)


def unrelated(similarity: float, keyword_share: float, length: int) -> bool:
    """An answer of some length that shares no term with its question and is far from its reference.

    Short answers ("2^(n-1)", "快排不会") say too little for the embedding to place them; they are
    left to the too_short and non-answer checks.
    """
    return length >= UNRELATED_MIN_CHARS and keyword_share == 0 and similarity < UNRELATED_MAX_SIMILARITY


@lru_cache(maxsize=64)  # a reference's grams are needed for every answer to it
def _char_grams(text: str, n: int = 5) -> frozenset[str]:
    compact = "".join(ch for ch in normalise(text) if ch.isalnum())
    return frozenset(compact[i : i + n] for i in range(len(compact) - n + 1))


def _spaced_items(norm: str) -> int:
    """Items of a list typed with spaces instead of commas ("预训练 SFT 奖励模型 PPO"): only when the answer
    has no clause punctuation and every item is a word or two, not a sentence."""
    if clause_count(norm) > 1:
        return 0
    items = norm.split()
    if len(items) < 3 or any(len(_WORD_UNIT.findall(item)) > SPACED_ITEM_UNITS for item in items):
        return 0
    return len(items)


def _listed(norm: str) -> bool:
    """A list of short items (commas or spaces between them) with almost no words that connect them into claims."""
    clauses = max(clause_count(norm), _spaced_items(norm))
    units = len(_WORD_UNIT.findall(norm))
    unconnected = len(_CONNECTIVE.findall(norm)) / max(units, 1) < STUFFING_MAX_CONNECTIVES
    return unconnected and clauses >= 3 and units / clauses < STUFFING_MAX_UNITS_PER_CLAUSE


def _stuffed(norm: str, measures: list[_PointMeasure], reference_is_list: bool) -> bool:
    """Keywords without explanation: a bare list of terms, or a few terms said over and over.

    Where the reference itself is a list ("盘点的原则：真实、准确、完整、清楚"), a list is the answer.
    """
    distinct = sum(1 for m in measures for h in m.hits.values() if h)
    # Count places, not forms: "位置编码" also matches the alias "位置" at the same place.
    occurrences = len({h.start for m in measures for hs in m.hits.values() for h in hs})
    covered = keywords.hit_chars({str(i): [h for hs in m.hits.values() for h in hs] for i, m in enumerate(measures)})
    if (
        distinct >= 2
        and occurrences >= STUFFING_REPEAT_MIN_HITS
        and occurrences >= STUFFING_REPEAT_RATIO * distinct
        and covered >= STUFFING_REPEAT_COVERAGE * content_length(norm)
    ):
        return True
    return distinct >= STUFFING_MIN_HITS and not reference_is_list and _listed(norm)


def _flags(
    embedded: Embedded,
    norm: str,
    reference: PreparedReference,
    bank: Sequence[PreparedReference],
    measures: list[_PointMeasure],
    overlap: float,
) -> list[Flag]:
    """Flags, given `overlap`: the share of the answer's character bigrams found in the reference."""
    answer = embedded.answer
    length = content_length(answer)
    keyword_share = float(np.mean([m.keyword_share for m in measures]))
    if length == 0 or (_DONT_KNOW.search(norm) and keyword_share < 0.15 and length < 60):
        return [Flag.NON_ANSWER]
    flags: list[Flag] = []
    if _off_topic(embedded, norm, reference, bank, measures, overlap):
        flags.append(Flag.OFF_TOPIC)
    if _stuffed(norm, measures, reference.is_list):
        flags.append(Flag.KEYWORD_STUFFING)
    if length < TOO_SHORT_CHARS and overlap < SHORT_BUT_IN_REFERENCE:
        flags.append(Flag.TOO_SHORT)
    if embedded.source is not None and embedded.source.repetitive:
        flags.append(Flag.REPETITIVE)
    answer_grams = _char_grams(answer)
    reference_answer = reference.reference.reference_answer
    if len(answer_grams) >= 20 and content_length(reference_answer) >= COPY_MIN_REFERENCE_CHARS:
        reference_grams = _char_grams(reference_answer)
        shared = len(answer_grams & reference_grams)
        if shared >= COPY_CONTAINMENT * len(answer_grams) and shared >= COPY_COVERAGE * len(reference_grams):
            flags.append(Flag.COPY_OF_REFERENCE)
    return flags


def _analyse(
    embedded: Embedded, reference: PreparedReference, bank: Sequence[PreparedReference]
) -> tuple[list[_PointMeasure], list[Flag], Signals]:
    answer = _Answer.of(embedded, reference)
    measures = [_measure_point(answer, p) for p in reference.key_points]
    # Lexical overlap on the answer and the reference with every keyword form the engine matched written as
    # its term: an answer in English, with a synonym or a same-sound misspelling is measured on what it says.
    said = lexical_text(answer.norm, [h for m in measures for hs in m.hits.values() for h in hs])
    lexical_reference = reference.lexical_reference
    precision, recall, f1 = lexical.bigram_overlap(said, lexical_reference)
    flags = _flags(embedded, answer.norm, reference, bank, measures, precision)
    novel_precision, novel_recall = lexical.novel_overlap(said, lexical_reference, reference.lexical_question)
    groups = [bool(h) for m in measures for h in m.hits.values()]
    whole = float(embedded.whole @ reference.answer_vector) if embedded.spans else 0.0
    others = [r.answer_vector for r in bank if r.reference.id != reference.reference.id]
    nearest_other = float(np.max(np.vstack(others) @ embedded.whole)) if others and embedded.spans else whole
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
        # Lengths in reading units (a CJK character, a Latin word): characters would make an English answer
        # four times as long as its Chinese twin.
        answer_chars=len(lexical.units(said)),
        reference_chars=len(lexical.units(lexical_reference)),
    )
    return measures, flags, signals


def measure_signals(embedded: Embedded, reference: PreparedReference, bank: Sequence[PreparedReference]) -> Signals:
    """The calibration inputs alone, for fitting (`grader calibrate`): conflicts taken as found."""
    measures, _, signals = _analyse(embedded, reference, bank)
    return _counted(signals, _states(signals, measures, reference, disputed=False))


def _evidenced(measure: _PointMeasure, distinctive: frozenset[str]) -> bool:
    """Whether the answer shows this key point: one of its own terms in a span about it, a span close to
    it holding any of its terms, or a span that reads as a paraphrase of it."""
    if measure.similarity >= model.SIM_CEILING:
        return True
    in_context = [t for t, h in measure.hits.items() if h and measure.context.get(t, 0.0) >= KEYWORD_CONTEXT]
    return any(t in distinctive for t in in_context) or (bool(in_context) and measure.similarity >= CLOSE_SPAN)


def _states(
    signals: Signals, measures: Sequence[_PointMeasure], reference: PreparedReference, *, disputed: bool
) -> list[KeyPointState]:
    """Each key point's state: covered or partial only with evidence in the answer (its credit, and one of its
    own terms in a span about it or a paraphrase of it); a conflict found makes it contradicted, or disputed
    when the answer is otherwise strong (`disputed`)."""
    states = []
    cleared = signals.model_copy(update={"contradicted": [False] * len(measures)})
    for point, measure, credit in zip(reference.key_points, measures, credits(cleared), strict=True):
        if measure.contradiction is not None:
            states.append(KeyPointState.DISPUTED if disputed else KeyPointState.CONTRADICTED)
        elif not _evidenced(measure, reference.distinctive_terms[point.key_point.id]) or credit < PARTIAL_CREDIT:
            states.append(KeyPointState.MISSED)
        else:
            states.append(KeyPointState.COVERED if credit >= COVERED_CREDIT else KeyPointState.PARTIAL)
    return states


def _counted(signals: Signals, states: Sequence[KeyPointState]) -> Signals:
    """Signals as the calibration reads them: a missed or contradicted key point adds nothing to the score."""
    return signals.model_copy(
        update={
            "counted": [s in (KeyPointState.COVERED, KeyPointState.PARTIAL, KeyPointState.DISPUTED) for s in states],
            "contradicted": [s is KeyPointState.CONTRADICTED for s in states],
        }
    )


def score_embedded(
    embedded: Embedded,
    reference: PreparedReference,
    bank: Sequence[PreparedReference],
    calibration: Calibration,
) -> ScoreResult:
    measures, flags, found = _analyse(embedded, reference, bank)
    states = _states(found, measures, reference, disputed=False)
    signals = _counted(found, states)
    assessed = assess(calibration, signals)
    if any(m.contradiction is not None for m in measures):
        # One key point read as contradicted must not sink an otherwise strong answer at high confidence (the
        # check reads words, and can be wrong): where the answer scores well without it, it is scored so and
        # goes to a person with the conflict named.
        disputed_states = _states(found, measures, reference, disputed=True)
        disputed_signals = _counted(found, disputed_states)
        otherwise = assess(calibration, disputed_signals)
        if otherwise.score >= STRONG_ELSEWHERE and otherwise.score - assessed.score >= CONFLICT_DROP:
            # Shown halfway between the two readings: neither trusted, a person decides.
            halfway = round((otherwise.score + assessed.score) / 2, 1)
            states, signals = disputed_states, disputed_signals
            assessed = replace(otherwise, score=halfway)
            flags = [*flags, Flag.CONFLICT]
    total = assessed.score
    point_credits = credits(signals)
    results = []
    for point, measure, credit, state in zip(reference.key_points, measures, point_credits, states, strict=True):
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
                contradiction=measure.contradiction.describe() if measure.contradiction else None,
                state=state,
                conflict=measure.contradiction,
            )
        )
    cap = cap_for(calibration, signals.flags)
    confidence = min(assessed.confidence, CONFLICT_CONFIDENCE) if Flag.CONFLICT in flags else assessed.confidence
    return ScoreResult(
        question_id=reference.reference.id,
        score=total,
        key_points=results,
        flags=flags,
        confidence=confidence,
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
