"""No bank contradicts itself: its reference answers and key points' own statements raise no contradiction."""

from __future__ import annotations

import pytest

from grader.evaluation import contradiction_self_check, grader_for
from grader.grading.grader import Grader


@pytest.mark.parametrize("bank", ["llm", "eval/external/ads/questions.jsonl", "eval/external/le/questions.jsonl"])
def test_a_bank_never_contradicts_its_own_reference_or_statements(grader: Grader, bank: str) -> None:
    assert contradiction_self_check(grader_for(bank, grader)) == []
