"""The bank page's readiness and the fit's refusal count a bank's reviewed answers the same way
(`grader.questions.reviewed`): what the page calls usable is what the fit is given, and what it says is
missing is what the fit refuses for."""

from __future__ import annotations

import pytest

from grader.errors import InvalidInput
from grader.questions.reviewed import (
    MIN_PER_QUESTION,
    MIN_REVIEWED,
    LabelledAnswer,
    count_reviews,
    enough_reviews,
)


def labels(per_question: dict[str, int], reviewers: list[str]) -> list[LabelledAnswer]:
    rows: list[LabelledAnswer] = []
    for question_id, count in per_question.items():
        for n in range(count):
            who = reviewers[len(rows) % len(reviewers)]
            rows.append(LabelledAnswer(question_id=question_id, answer=f"答案 {n}", score=5, reviewer=who))
    return rows


def test_questions_under_the_per_question_minimum_do_not_count_and_the_refusal_says_what_the_page_counts() -> None:
    rows = labels({"a": 20, "b": 10, "c": MIN_PER_QUESTION - 2}, ["甲"])
    counts = count_reviews("x", rows)
    assert (counts.reviewed, counts.usable, counts.reviewers) == (len(rows), 30, ["甲"])
    assert counts.short_questions == {"c": 2} and not counts.enough
    with pytest.raises(InvalidInput) as refused:
        enough_reviews("x", rows)
    for problem in counts.problems():
        assert problem in refused.value.message
    assert f"{MIN_REVIEWED - 30} more reviewed answers" in refused.value.message


def test_enough_answers_from_one_reviewer_are_not_enough() -> None:
    counts = count_reviews("x", labels({"a": MIN_REVIEWED}, ["甲"]))
    assert counts.usable == MIN_REVIEWED and not counts.enough
    assert counts.problems() == ["reviews from at least 2 reviewers (all are from 甲)"]


def test_once_enough_the_fit_gets_exactly_the_usable_answers() -> None:
    rows = labels({"a": MIN_REVIEWED, "b": 1}, ["甲", "乙"])
    counts = count_reviews("x", rows)
    assert counts.enough and counts.problems() == [] and counts.reviewers == ["甲", "乙"]
    usable = enough_reviews("x", rows)
    assert len(usable) == counts.usable == MIN_REVIEWED and {r.question_id for r in usable} == {"a"}
