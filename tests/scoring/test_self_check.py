"""No bank contradicts itself: its reference answers and key points' own statements raise no contradiction."""

from __future__ import annotations

import pytest

from grader.evaluation import contradiction_self_check, grader_for
from grader.grading.grader import Grader


# The generated banks (100+ questions each, key points generated on load) are `slow`; the curated one is not.
@pytest.mark.parametrize(
    "bank",
    [
        "llm",
        pytest.param("eval/external/ads/questions.jsonl", marks=pytest.mark.slow),
        pytest.param("eval/external/le/questions.jsonl", marks=pytest.mark.slow),
    ],
)
def test_a_bank_never_contradicts_its_own_reference_or_statements(grader: Grader, bank: str) -> None:
    assert contradiction_self_check(grader_for(bank, grader)) == []
