"""What a published bank version is made of, and how two versions differ. Pure: no database.

A bank version is the list of its questions' reference versions; its digest hashes the (question id,
content hash) pairs, so two versions with the same digest grade every answer the same way.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from grader.scoring.types import KeyPoint, Reference


def bank_digest(references: Mapping[str, Reference]) -> str:
    pairs = sorted((qid, ref.content_hash) for qid, ref in references.items())
    return hashlib.sha256(json.dumps(pairs).encode("utf-8")).hexdigest()[:16]


class FieldChange(BaseModel):
    field: str
    old: Any
    new: Any


class KeyPointDiff(BaseModel):
    id: str
    change: str  # added | removed | changed
    text: str  # the new text, or the removed point's
    fields: list[FieldChange] = Field(default_factory=list)


class QuestionDiff(BaseModel):
    question_id: str
    question: str | None = None  # its text (the new one, or the removed one's), so a diff reads without ids
    change: str  # added | removed | changed
    old_hash: str | None
    new_hash: str | None
    fields: list[FieldChange] = Field(default_factory=list)  # question / reference_answer
    key_points: list[KeyPointDiff] = Field(default_factory=list)


class BankDiff(BaseModel):
    """From one published version (or nothing) to the next; `unchanged` counts identical questions."""

    old_version: int | None
    new_version: int | None
    questions: list[QuestionDiff] = Field(default_factory=list)
    unchanged: int = 0

    @property
    def is_empty(self) -> bool:
        return not self.questions

    def summary(self) -> str:
        counts = {c: sum(q.change == c for q in self.questions) for c in ("added", "changed", "removed")}
        return ", ".join(f"{n} {c}" for c, n in counts.items()) + f", {self.unchanged} unchanged"


_KEY_POINT_FIELDS = ("text", "weight", "keywords", "statements", "misconceptions", "correction", "curated")


def _key_point_diff(old: KeyPoint | None, new: KeyPoint | None) -> KeyPointDiff | None:
    if old is None and new is not None:
        return KeyPointDiff(id=new.id, change="added", text=new.text)
    if new is None and old is not None:
        return KeyPointDiff(id=old.id, change="removed", text=old.text)
    assert old is not None and new is not None
    a, b = old.model_dump(mode="json"), new.model_dump(mode="json")
    fields = [FieldChange(field=f, old=a[f], new=b[f]) for f in _KEY_POINT_FIELDS if a[f] != b[f]]
    return KeyPointDiff(id=new.id, change="changed", text=new.text, fields=fields) if fields else None


def _question_diff(qid: str, old: Reference | None, new: Reference | None) -> QuestionDiff | None:
    if old is not None and new is not None and old.content_hash == new.content_hash:
        return None
    change = "added" if old is None else "removed" if new is None else "changed"
    diff = QuestionDiff(
        question_id=qid,
        question=new.question if new is not None else old.question if old is not None else None,
        change=change,
        old_hash=old.content_hash if old else None,
        new_hash=new.content_hash if new else None,
    )
    if old is None or new is None:
        return diff
    diff.fields = [
        FieldChange(field=f, old=getattr(old, f), new=getattr(new, f))
        for f in ("question", "reference_answer")
        if getattr(old, f) != getattr(new, f)
    ]
    before = {kp.id: kp for kp in old.key_points}
    after = {kp.id: kp for kp in new.key_points}
    for kp_id in [*after, *(k for k in before if k not in after)]:
        if (kp_diff := _key_point_diff(before.get(kp_id), after.get(kp_id))) is not None:
            diff.key_points.append(kp_diff)
    return diff


def diff_banks(
    old: Mapping[str, Reference],
    new: Mapping[str, Reference],
    *,
    old_version: int | None = None,
    new_version: int | None = None,
) -> BankDiff:
    """Questions in `new`'s order, then the ones `new` dropped."""
    diff = BankDiff(old_version=old_version, new_version=new_version)
    for qid in [*new, *(q for q in old if q not in new)]:
        found = _question_diff(qid, old.get(qid), new.get(qid))
        if found is None:
            diff.unchanged += 1
        else:
            diff.questions.append(found)
    return diff
