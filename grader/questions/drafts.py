"""Draft references: key points generated for imported questions, and the edits admins make to them.

Generation is `grader.questions.refbuild`'s: clause-split key points, jieba TF-IDF keywords with the glossary's
aliases, weights by how much of the answer each point carries, keyword rarity measured over the
whole imported bank. A key point marked `curated` (the default bank's, or any an admin edited) is
kept as it is on every later import; only the automatic ones around it are regenerated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from grader.errors import InvalidBankFile, InvalidDraft
from grader.questions.documents import BankRow
from grader.questions.refbuild import _Corpus, build_reference
from grader.scoring.types import KeyPoint, Keyword, Reference


def generate_drafts(rows: Sequence[tuple[str, BankRow]], existing: Mapping[str, Reference]) -> list[Reference]:
    """A draft per (question id, row): the row's own key points if it has them (a YAML export);
    the existing draft as it is if the question and its answer are unchanged (keyword rarity is
    measured over the whole file, so regenerating would reshuffle the keywords of questions nobody
    touched whenever another question is added); else generated ones that keep the curated points
    of `existing[question id]`.

    Every row is tried; the problems of all of them fail the import together.
    """
    corpus = _Corpus(row.reference_answer for _, row in rows)
    drafts: list[Reference] = []
    errors: list[dict[str, Any]] = []
    for question_id, row in rows:
        try:
            if row.key_points is not None:
                drafts.append(
                    Reference(
                        id=question_id,
                        question=row.question,
                        reference_answer=row.reference_answer,
                        key_points=row.key_points,
                    )
                )
                continue
            old = existing.get(question_id)
            if old is not None and (old.question, old.reference_answer) == (row.question, row.reference_answer):
                drafts.append(old)
                continue
            data = build_reference(question_id, row.question, row.reference_answer, existing.get(question_id), corpus)
            drafts.append(Reference.model_validate(data))
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "key_points"
                errors.append({"row": row.row, "field": field, "message": err["msg"].removeprefix("Value error, ")})
        except ValueError as exc:  # curated weights over 1.0
            errors.append({"row": row.row, "field": "key_points", "message": str(exc)})
    if errors:
        raise InvalidBankFile(f"{len(errors)} question(s) could not be given key points; nothing was imported", errors)
    return drafts


class KeyPointEdit(BaseModel):
    """A key point as an admin writes it; `curated` is not theirs to set: an edit curates it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    weight: float
    keywords: list[Keyword]
    statements: list[str] = Field(default_factory=list)
    misconceptions: list[str] = Field(default_factory=list)
    correction: str | None = None
    # Accepted so that a draft read over the API can be sent back as it is; ignored: an edit curates.
    curated: bool | None = Field(default=None, exclude=True)


class DraftEdit(BaseModel):
    """What an admin may change in a draft; a field left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    question: str | None = None
    reference_answer: str | None = None
    key_points: list[KeyPointEdit] | None = None


def apply_edit(draft: Reference, edit: DraftEdit) -> Reference:
    """The draft with `edit` applied. A key point that is new or changed becomes curated, so no later
    import regenerates it; the result must be a valid reference (weights add up to 1.0, …)."""
    data: dict[str, Any] = draft.model_dump()
    if edit.question is not None:
        data["question"] = edit.question
    if edit.reference_answer is not None:
        data["reference_answer"] = edit.reference_answer
    if edit.key_points is not None:
        before = {kp.id: kp for kp in draft.key_points}
        key_points = []
        for kp in edit.key_points:
            old = before.get(kp.id)
            unchanged = old is not None and old.model_dump(exclude={"curated"}) == {
                **kp.model_dump(),
                "keywords": [k.model_dump() for k in kp.keywords],
            }
            key_points.append({**kp.model_dump(), "curated": old.curated if unchanged and old else True})
        data["key_points"] = key_points
    try:
        return Reference.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "(draft)"
        more = exc.error_count() - 1
        raise InvalidDraft(
            f"question '{draft.id}': {field} {first['msg'].removeprefix('Value error, ')}"
            + (f" (and {more} more problem{'s' if more != 1 else ''})" if more else ""),
            details={
                "question_id": draft.id,
                "errors": [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()],
            },
        ) from exc


def key_point_dicts(reference: Reference) -> list[dict[str, Any]]:
    """Key points as stored (JSON), every field present so a stored version rebuilds the same hash."""
    return [kp.model_dump(mode="json") for kp in reference.key_points]


def reference_from_row(
    question_id: str, question: str, reference_answer: str, key_points: list[dict[str, Any]]
) -> Reference:
    return Reference(
        id=question_id,
        question=question,
        reference_answer=reference_answer,
        key_points=[KeyPoint.model_validate(kp) for kp in key_points],
    )
