"""The own-question margin reads the bank's reference vectors stacked once per bank: whatever banks are graded
in turn, an answer's margin is the one computed from its own bank."""

from __future__ import annotations

import numpy as np

from grader.grading.grader import Grader
from grader.scoring.engine import measure_signals
from grader.scoring.prepared import PreparedReference
from grader.scoring.reading import embed_answers


def _rescaled(bank: list[PreparedReference], embedder: str, seed: int) -> list[PreparedReference]:
    """The same questions (ids, content hashes) with other reference vectors, as another embedder gives."""
    rng = np.random.default_rng(seed)
    out = []
    for p in bank:
        vector = rng.normal(size=p.answer_vector.shape).astype(p.answer_vector.dtype)
        out.append(
            PreparedReference(p.reference, p.key_points, vector / np.linalg.norm(vector), embedder, p.question_vector)
        )
    return out


def test_two_banks_of_the_same_questions_graded_in_turn_each_keep_their_own_margin(grader: Grader) -> None:
    bank = grader.prepared()
    other = _rescaled(bank, "another-embedder", seed=7)
    (answer,) = embed_answers(["温度系数越高，采样越随机"], grader.embedder)
    own = {p.reference.id: p for p in bank}["q06"]
    alone = measure_signals(answer, own, bank).own_margin
    measure_signals(answer, own, other)  # a bank with the same ids and hashes but other vectors, in between
    # Within float32 rounding: a re-stacked matrix may sit at another alignment and sum in another order.
    assert abs(measure_signals(answer, own, bank).own_margin - alone) < 1e-6
    # ... and the other bank's margin is its own, not the first bank's.
    expected = float(answer.whole @ own.answer_vector) - max(
        float(p.answer_vector @ answer.whole) for p in other if p.reference.id != "q06"
    )
    assert abs(measure_signals(answer, own, other).own_margin - expected) < 1e-6
