"""Sentence embedders: the `Embedder` protocol and its backends (`backends`), and USE span pooling
(`use_spans`). Part of the pure core with `grader.scoring`: no database, queue or web imports."""

from grader.embeddings.backends import (
    E5Embedder,
    Embedder,
    HashEmbedder,
    SentenceTransformerEmbedder,
    UseEmbedder,
    Vectors,
    create_embedder,
    embed_spans,
    get_embedder,
)

__all__ = [
    "E5Embedder",
    "Embedder",
    "HashEmbedder",
    "SentenceTransformerEmbedder",
    "UseEmbedder",
    "Vectors",
    "create_embedder",
    "embed_spans",
    "get_embedder",
]
