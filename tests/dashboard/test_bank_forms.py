"""The key-point editor's form handling, pure (no server): what the page renders and posts back
unchanged saves nothing, so untouched key points stay uncurated; readable diffs and summaries."""

from __future__ import annotations

import pytest

from grader.dashboard.banks import _draft_error, _edits, _forms_of, _parse_forms, list_change, summary_text
from grader.questions.drafts import DraftEdit, apply_edit
from grader.questions.references import load_bank
from grader.scoring.types import Reference


def posted(ref: Reference) -> dict[str, str]:
    """The fields a browser posts back for the rendered editor, untouched."""
    fields: dict[str, str] = {}
    for form in _forms_of(ref):
        p = f"k{form.index}_"
        fields |= {
            f"{p}id": form.id,
            f"{p}text": form.text,
            f"{p}weight": form.weight,
            f"{p}statements": form.statements,
            f"{p}misconceptions": form.misconceptions,
            f"{p}correction": form.correction,
            **{f"{p}kw{j}_term": term for j, (term, _) in enumerate(form.keywords)},
            **{f"{p}kw{j}_aliases": aliases for j, (_, aliases) in enumerate(form.keywords)},
        }
    return fields


@pytest.mark.parametrize("question_id", sorted(load_bank()))
def test_the_default_bank_round_trips_through_the_editor_unchanged(question_id: str) -> None:
    ref = load_bank()[question_id]
    edits, kept = _edits(_parse_forms(posted(ref)))
    assert not any(form.errors for form in kept)
    assert apply_edit(ref, DraftEdit(key_points=edits)).content_hash == ref.content_hash


def test_draft_errors_land_on_their_field() -> None:
    assert _draft_error("key_points.2.weight", "Input should be less than or equal to 1")[:2] == (2, "weight")
    assert _draft_error("key_points.0.keywords", "List should have at least 1 item")[:2] == (0, "keywords")
    total = "Value error, key point weights must add up to 1.0, they add up to 0.950"
    position, field, message = _draft_error("", total)
    assert (position, field) == (None, "weights") and message.endswith("现在是 0.950")


def test_list_changes_and_summaries_read_in_chinese() -> None:
    old = [{"term": "RLHF", "aliases": ["人类反馈"]}, {"term": "PPO", "aliases": []}]
    new = [{"term": "RLHF", "aliases": ["人类反馈", "reinforcement learning from human feedback"]}, old[1]]
    assert list_change("keywords", old, new) == [
        ("−", "RLHF（人类反馈）"),
        ("+", "RLHF（人类反馈、reinforcement learning from human feedback）"),
    ]
    assert summary_text("1 added, 2 changed, 0 removed, 9 unchanged") == "新增 1 题，修改 2 题，删除 0 题，未变 9 题"
