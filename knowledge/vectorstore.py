"""The `VectorStore` seam. Adapters: `knowledge.chroma_store`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from knowledge.types import Chunk, Passage


class VectorStore(Protocol):
    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray, extra: dict[str, str]) -> None:
        """Insert or replace chunks; `extra` metadata is added to every one."""
        ...

    def query(self, embedding: np.ndarray, k: int) -> list[Passage]:
        """The `k` nearest chunks, best first, scored by cosine similarity."""
        ...

    def delete_source(self, source: str, keep_hash: str | None = None) -> None:
        """Delete a source's chunks, or only those whose hash differs from `keep_hash`."""
        ...

    def source_hashes(self) -> dict[str, str]:
        """Content hash recorded for every ingested source."""
        ...

    def count(self) -> int: ...
