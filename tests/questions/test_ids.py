"""One rule for a typed question id: the REST submit, the batch sheet and `grader grade` share it."""

from __future__ import annotations

import pytest

from grader.batches.parsing import QuestionMatcher
from grader.questions.ids import normalise_question_id

OLD_BANK = {f"q{n:02d}" for n in range(1, 13)}
MIXED_BANK = OLD_BANK | {"le-005", "ads-008", "q7"}


@pytest.mark.parametrize("typed", ["q3", "Q3", "q03", " q03 ", "Q03", "q003", "ｑ０３"])
def test_the_old_numbering_is_read_however_it_is_typed(typed: str) -> None:
    assert normalise_question_id(typed, OLD_BANK) == "q03"


def test_slugs_are_trimmed_and_lower_cased_and_otherwise_left_alone() -> None:
    assert normalise_question_id(" LE-005 ", MIXED_BANK) == "le-005"
    assert normalise_question_id("ads-008", MIXED_BANK) == "ads-008"
    # Unknown ids stay as typed (trimmed, lower-cased) for the caller to refuse by name.
    assert normalise_question_id(" LE-5 ", MIXED_BANK) == "le-5"
    assert normalise_question_id("q99", OLD_BANK) == "q99"
    assert normalise_question_id("Q13", OLD_BANK) == "q13"


def test_q_digits_maps_to_the_padded_id_only_when_that_one_exists_and_the_typed_one_does_not() -> None:
    assert normalise_question_id("q7", MIXED_BANK) == "q7"  # the bank has q7 itself: taken as typed
    assert normalise_question_id("q3", {"q3"}) == "q3"
    assert normalise_question_id("q3", {"le-005"}) == "q3"  # no q03 to map to


def test_the_batch_sheet_reads_question_ids_by_the_same_rule() -> None:
    matcher = QuestionMatcher({"q03": "什么是 RAG？", "le-005": "解释注意力", "ads-008": "广告点击率"})
    assert [matcher.match(label) for label in ("q3", "Q3", " q03 ", "LE-005", "ads-008")] == [
        "q03",
        "q03",
        "q03",
        "le-005",
        "ads-008",
    ]
