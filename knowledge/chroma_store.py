"""Chroma adapter for `VectorStore`.

Embeddings are always computed by our `Embedder` and passed in explicitly. The
registered embedding function exists so Chroma never falls back to its default
one, which downloads a model, and so a reopened collection finds its function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import chromadb
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings as ChromaSettings
from chromadb.utils.embedding_functions import register_embedding_function

from knowledge.embedder import Embedder
from knowledge.errors import KnowledgeUnavailable
from knowledge.types import Chunk, Passage

_loaded: dict[str, Embedder] = {}


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    def __init__(self, embedder: Embedder | None = None) -> None:
        self._embedder = embedder or Embedder()
        _loaded.setdefault(self._embedder.model_path, self._embedder)

    def __call__(self, input: Documents) -> Embeddings:
        return list(self._embedder.embed(list(input)))

    @staticmethod
    def name() -> str:
        return "support-agent-minilm"

    def default_space(self) -> str:
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return {"model_path": self._embedder.model_path}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        path = config.get("model_path", "")
        return MiniLMEmbeddingFunction(_loaded.get(path) or Embedder(path))


class ChromaStore:
    """A cosine-distance collection; `client` is a PersistentClient or an HttpClient."""

    def __init__(self, client: Any, collection: str, embedder: Embedder) -> None:
        try:
            self._collection = client.get_or_create_collection(
                collection,
                embedding_function=MiniLMEmbeddingFunction(embedder),
                configuration={"hnsw": {"space": "cosine"}},
            )
        except Exception as exc:
            raise KnowledgeUnavailable(f"cannot open Chroma collection {collection!r}: {exc}") from exc

    @classmethod
    def persistent(cls, path: str, collection: str, embedder: Embedder) -> ChromaStore:
        client = chromadb.PersistentClient(path=path, settings=ChromaSettings(anonymized_telemetry=False))
        return cls(client, collection, embedder)

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray, extra: dict[str, str]) -> None:
        if not chunks:
            return
        self._collection.upsert(
            ids=[c.id for c in chunks],
            documents=[c.text for c in chunks],
            embeddings=list(embeddings),
            metadatas=[c.metadata() | extra for c in chunks],
        )

    def query(self, embedding: np.ndarray, k: int) -> list[Passage]:
        if self.count() == 0:
            return []
        found = self._collection.query(
            query_embeddings=[embedding], n_results=k, include=["documents", "metadatas", "distances"]
        )
        rows = zip(found["ids"][0], found["documents"][0], found["metadatas"][0], found["distances"][0], strict=True)
        return [
            Passage(
                id=chunk_id,
                text=text,
                source=str(meta.get("source", "")),
                title=str(meta.get("title", "")),
                section=str(meta.get("section", "")),
                score=1.0 - float(distance),
            )
            for chunk_id, text, meta, distance in rows
        ]

    def delete_source(self, source: str, keep_hash: str | None = None) -> None:
        where: dict[str, Any] = {"source": source}
        if keep_hash is not None:
            where = {"$and": [where, {"doc_hash": {"$ne": keep_hash}}]}
        self._collection.delete(where=where)

    def source_hashes(self) -> dict[str, str]:
        metas = self._collection.get(include=["metadatas"])["metadatas"] or []
        return {str(m["source"]): str(m.get("doc_hash", "")) for m in metas}

    def count(self) -> int:
        return self._collection.count()
