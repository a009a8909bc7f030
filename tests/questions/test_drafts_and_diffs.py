"""Draft generation, admin edits and version diffs: pure, no database."""

from __future__ import annotations

import pytest

from grader.errors import InvalidDraft
from grader.questions.documents import BankRow
from grader.questions.drafts import DraftEdit, KeyPointEdit, apply_edit, generate_drafts
from grader.questions.references import load_bank
from grader.questions.versions import bank_digest, diff_banks
from grader.scoring.types import Keyword, Reference

ANSWER = "盘点内容包括：数量盘点、重量盘点、账实核对。盘点方式包括定期盘点和临时盘点，由仓库保管员负责。"


def row(n: int = 1, question: str = "盘点包括什么？", answer: str = ANSWER) -> BankRow:
    return BankRow(row=n, question=question, reference_answer=answer)


def test_generated_drafts_have_key_points_keywords_and_weights_adding_to_one() -> None:
    [draft] = generate_drafts([("le-002", row())], {})
    assert draft.id == "le-002"
    assert len(draft.key_points) >= 2
    assert abs(sum(kp.weight for kp in draft.key_points) - 1) < 1e-9
    assert all(kp.keywords and not kp.curated for kp in draft.key_points)
    terms = {k.term for kp in draft.key_points for k in kp.keywords}
    assert "盘点" in terms


def test_curated_key_points_survive_regeneration() -> None:
    default = load_bank()
    q05 = default["q05"]
    [draft] = generate_drafts([("q05", row(question=q05.question, answer=q05.reference_answer))], default)
    assert draft == q05  # every point of the default bank is curated: nothing regenerated


def test_keywords_get_glossary_aliases() -> None:
    [draft] = generate_drafts([("x-1", row(answer="RLHF 先做预训练，再做 SFT，最后用 PPO 优化奖励模型。"))], {})
    forms = {f for kp in draft.key_points for k in kp.keywords for f in k.forms()}
    assert "基于人类反馈的强化学习" in forms or "有监督微调" in forms


def test_an_edit_curates_the_key_points_it_changes() -> None:
    [draft] = generate_drafts([("le-002", row())], {})
    first, *rest = draft.key_points
    edited = KeyPointEdit(
        **{
            **first.model_dump(exclude={"curated"}),
            "text": "盘点内容：数量、重量、账实",
            "keywords": [Keyword(term="盘点", aliases=["stocktaking"])],
            "misconceptions": ["盘点只核对数量"],
        }
    )
    after = apply_edit(
        draft, DraftEdit(key_points=[edited, *(KeyPointEdit(**kp.model_dump(exclude={"curated"})) for kp in rest)])
    )
    assert after.key_points[0].curated and after.key_points[0].misconceptions == ["盘点只核对数量"]
    assert not any(kp.curated for kp in after.key_points[1:])
    assert after.content_hash != draft.content_hash


def test_an_edit_that_breaks_the_weights_is_refused_with_the_reason() -> None:
    [draft] = generate_drafts([("le-002", row())], {})
    points = [KeyPointEdit(**kp.model_dump(exclude={"curated"})) for kp in draft.key_points]
    points[0] = points[0].model_copy(update={"weight": 0.99})
    with pytest.raises(InvalidDraft, match=r"add up to 1\.0"):
        apply_edit(draft, DraftEdit(key_points=points))


def test_diff_names_added_removed_and_changed_questions_and_key_points() -> None:
    bank = load_bank()
    old = {q: bank[q] for q in ("q01", "q02", "q03")}
    q02 = bank["q02"]
    kp = q02.key_points[0]
    changed = q02.model_copy(
        update={
            "key_points": [
                kp.model_copy(update={"text": kp.text + "（改）", "misconceptions": [*kp.misconceptions, "新的误解"]}),
                *q02.key_points[1:],
            ]
        }
    )
    changed = Reference.model_validate(changed.model_dump())
    new = {"q01": bank["q01"], "q02": changed, "q04": bank["q04"]}
    diff = diff_banks(old, new, old_version=1, new_version=2)
    assert [(q.question_id, q.change) for q in diff.questions] == [
        ("q02", "changed"),
        ("q04", "added"),
        ("q03", "removed"),
    ]
    assert diff.unchanged == 1
    [kp_diff] = diff.questions[0].key_points
    assert (kp_diff.id, kp_diff.change) == ("kp1", "changed")
    assert {f.field for f in kp_diff.fields} == {"text", "misconceptions"}
    assert diff.summary() == "1 added, 1 changed, 1 removed, 1 unchanged"
    assert bank_digest(old) != bank_digest(new)
    assert bank_digest(dict(reversed(list(old.items())))) == bank_digest(old)  # order is not content
