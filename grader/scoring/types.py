"""Data the scoring core reads and writes.

`Reference` is what a file in `reference_answers/` holds once validated; `ScoreResult` is what the
engine returns for one answer. Both are plain pydantic models: no I/O, so the core stays pure.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from functools import cached_property
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NonEmptyStr = Annotated[str, Field(min_length=1)]


class Keyword(BaseModel):
    """A term a marker looks for, with the other ways candidates write it (zh/en, abbreviations)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    term: NonEmptyStr
    aliases: list[NonEmptyStr] = Field(default_factory=list)

    def forms(self) -> list[str]:
        return [self.term, *self.aliases]


class KeyPoint(BaseModel):
    """One thing the reference answer says that a good answer must also say.

    `statements` are correct phrasings (the first is the key point's own text); `misconceptions`
    are claims a marker would reject as contradicting it. `curated` marks a key point edited by a
    person: `grader refs build` keeps it as it is.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^kp\d{1,2}$")]
    text: NonEmptyStr
    weight: Annotated[float, Field(gt=0, le=1)]
    keywords: list[Keyword] = Field(min_length=1)
    statements: list[NonEmptyStr] = Field(default_factory=list)
    misconceptions: list[NonEmptyStr] = Field(default_factory=list)
    correction: str | None = None
    curated: bool = False

    def all_statements(self) -> list[str]:
        return [self.text, *(s for s in self.statements if s != self.text)]


# A question id is a slug the bank's team chooses (q01, le-100, ads-008); 16 characters fit the
# `questions.id` column every submission and grade refers to.
QUESTION_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]{0,14}[a-z0-9])?$"


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # q01.. for the seed bank; imported banks keep their own slugs ("ads-001", "le-100").
    id: Annotated[str, Field(pattern=QUESTION_ID_PATTERN)]
    question: NonEmptyStr
    reference_answer: NonEmptyStr
    key_points: list[KeyPoint] = Field(min_length=1)

    @field_validator("key_points")
    @classmethod
    def _unique_ids(cls, key_points: list[KeyPoint]) -> list[KeyPoint]:
        ids = [kp.id for kp in key_points]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"key point ids must be unique; repeated: {', '.join(duplicates)}")
        return key_points

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> Reference:
        total = sum(kp.weight for kp in self.key_points)
        if abs(total - 1.0) > 0.01:
            raise ValueError(f"key point weights must add up to 1.0, they add up to {total:.3f}")
        return self

    @cached_property
    def content_hash(self) -> str:
        """Hash of everything that affects grading, so a grade names the exact reference it used."""
        canonical = json.dumps(self.model_dump(mode="json"), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


class Flag(StrEnum):
    OFF_TOPIC = "off_topic"
    KEYWORD_STUFFING = "keyword_stuffing"
    NON_ANSWER = "non_answer"
    TOO_SHORT = "too_short"
    COPY_OF_REFERENCE = "copy_of_reference"
    REPETITIVE = "repetitive"  # the same clauses said over and over: read once, shown to a person
    # A key point read as contradicted in an answer that is otherwise strong: the check may be wrong, so the
    # answer is scored halfway between both readings and goes to a person with the conflict named. Also raised,
    # score unchanged, where a strong answer's counted point may be said with a sibling term swapped in.
    CONFLICT = "conflict"


class KeyPointState(StrEnum):
    """What the grader decided about one key point, read by feedback, the dashboard and the API."""

    COVERED = "covered"
    PARTIAL = "partial"
    MISSED = "missed"  # adds nothing to the score
    CONTRADICTED = "contradicted"  # the answer states the opposite: adds nothing, named in the feedback
    # Read as contradicted by a check that may be wrong: counted, the conflict named, and a strong answer sent to
    # review (a conflict in an otherwise strong answer; a clause that may swap the point's terms).
    DISPUTED = "disputed"


class Span(BaseModel):
    """Character offsets into the answer as submitted: answer[start:end] == text."""

    model_config = ConfigDict(frozen=True)

    start: int
    end: int
    text: str


class ConflictRule(StrEnum):
    MISCONCEPTION = "misconception"  # the answer reads like one of the key point's misconceptions
    NEGATION = "negation"  # it negates one of the key point's terms (curated key points)
    DIRECTION = "direction"  # it reverses a direction or comparison the key point states
    OPPOSITE = "opposite"  # it says a claim in the reference's words with one quality turned round (动态 for 静态)
    VERDICT = "verdict"  # it opens with the opposite of the verdict the key point opens with (正确 for 错误)
    SWAP = "swap"  # it says the key point's claim with a sibling term in its place (共享 for 私有, 微任务 for 宏任务)


class Conflict(BaseModel):
    """Which claim of the key point the answer contradicts, where, and by which rule."""

    model_config = ConfigDict(frozen=True)

    rule: ConflictRule
    claim: str  # the misconception matched, or the key point's own text for a negation or reversal
    span: Span  # the answer's words, as submitted

    def describe(self) -> str:
        if self.rule is ConflictRule.NEGATION:
            return f"否定了「{self.span.text.strip()}」"
        if self.rule is ConflictRule.DIRECTION:
            return f"方向相反：「{self.span.text.strip()}」"
        if self.rule is ConflictRule.OPPOSITE:
            return f"说反了：「{self.span.text.strip()}」"
        if self.rule is ConflictRule.VERDICT:
            return f"判断相反：「{self.span.text.strip()}」"
        if self.rule is ConflictRule.SWAP:
            return f"同类概念说混：「{self.span.text.strip()}」"
        return self.claim


class KeyPointResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    weight: float
    credit: Annotated[float, Field(ge=0, le=1)]
    similarity: float
    keywords_hit: list[str]
    keywords_missed: list[str]
    evidence: Span | None
    contradicted: bool  # state is contradicted (kept for readers of earlier grades)
    contradiction: str | None = None  # the conflict described (`Conflict.describe`), contradicted or disputed
    state: KeyPointState = KeyPointState.MISSED
    conflict: Conflict | None = None


class Provenance(BaseModel):
    model_config = ConfigDict(frozen=True)

    scoring_version: str
    embedder: str
    reference_hash: str
    calibration: str


class ScoreResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    question_id: str
    score: Annotated[float, Field(ge=0, le=100)]
    key_points: list[KeyPointResult]
    flags: list[Flag]
    confidence: Annotated[float, Field(ge=0, le=1)]
    feedback: str
    provenance: Provenance
    # For the people reading a grade, not the calibration's inputs (those are `Signals`): whole-answer cosine,
    # coverage, contradicted weight, the ranking score, the big-error risk and a cap when one applied.
    signals: dict[str, float] = Field(default_factory=dict)
