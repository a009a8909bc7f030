"""The spans that hold a keyword hit (`AnswerView.spans_holding`), read from the hits' spans looked up once per
answer (`AnswerView.holding`): the same spans as comparing every span's bounds with every hit."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.embeddings import HashEmbedder
from grader.questions.references import load_bank
from grader.scoring.conflicts import AnswerView
from grader.scoring.prepared import PreparedReference, prepare_reference
from grader.scoring.reading import Embedded
from grader.scoring.text import spans


@lru_cache(maxsize=1)
def _reference() -> PreparedReference:
    return prepare_reference(load_bank()["q06"], HashEmbedder())


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_the_spans_holding_keyword_hits_are_those_whose_bounds_hold_one(data: st.DataObject) -> None:
    pieces = ["温度", "softmax", "越大", "越随机", "，", "。", "；", " ", "\n", "T", "的"]
    answer = "".join(data.draw(st.lists(st.sampled_from(pieces), max_size=12)))
    cut = spans(answer)
    view = AnswerView.of(Embedded(answer, cut, np.zeros(4), np.zeros((len(cut), 4), dtype=np.float32)), _reference())
    ends = st.integers(0, len(answer))
    positions = [(min(a, b), max(a, b)) for a, b in data.draw(st.lists(st.tuples(ends, ends), max_size=4))]
    held = view.spans_holding(positions)
    assert held.tolist() == [any(s.start <= a and b <= s.end for a, b in positions) for s in cut]
