"""The `VectorStore` seam. Adapters: `knowledge.chroma_store` (embedded or client/server)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from knowledge.types import Chunk, Passage

Where = dict[str, Any]  # Chroma-style metadata filter, e.g. {"source": "returns.md"}


@dataclass(frozen=True)
class Hit:
    passage: Passage
    vector: np.ndarray  # the stored, normalised embedding


class VectorStore(Protocol):
    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray, extra: dict[str, str | int]) -> None:
        """Insert or replace chunks; `extra` metadata is added to every one."""
        ...

    def query(self, embedding: np.ndarray, k: int, where: Where | None = None) -> list[Hit]:
        """The `k` nearest chunks, best first; `passage.score` is the cosine similarity."""
        ...

    def nearest_many(self, embeddings: np.ndarray, k: int, where: Where | None = None) -> list[list[tuple[str, float]]]:
        """For each row of `embeddings`, the ids and cosine similarities of what `query` finds, in one call to the
        store: a search that has the passages already (`get`, kept) needs no text, metadata or vector back."""
        ...

    def get(self, ids: Sequence[str]) -> list[Hit]:
        """Chunks by id (any order, unknown ids skipped), scored 0."""
        ...

    def texts(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(id, text, metadata) of every chunk, for the keyword index."""
        ...

    def delete(self, where: Where) -> None: ...

    def count(self) -> int: ...


class StoreBackend(Protocol):
    """Where collections live: one for the knowledge base, one per conversation's uploads."""

    def open(self, name: str, create: bool = True) -> VectorStore | None:
        """The named collection, created if missing unless `create` is False (then None)."""
        ...

    def drop(self, name: str) -> None: ...

    def names(self, prefix: str) -> dict[str, float]:
        """Collections whose name starts with `prefix`, with their creation time (epoch seconds)."""
        ...
