"""Chroma adapter for `VectorStore`: `PersistentClient` by default, `HttpClient` to scale out.

Embeddings are always computed by our `Embedder` and passed in explicitly. The registered
embedding function exists so Chroma never falls back to its default one, which downloads a
model, and so a reopened collection finds its function.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import chromadb
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings as ChromaSettings
from chromadb.utils.embedding_functions import register_embedding_function

from knowledge.embedder import Embedder
from knowledge.errors import KnowledgeUnavailable
from knowledge.passes import SharedPasses, chain
from knowledge.types import Chunk, Passage
from knowledge.vectorstore import Hit, Where

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


def _passage(chunk_id: str, text: str, meta: dict[str, Any], score: float) -> Passage:
    page = meta.get("page")
    return Passage(
        id=chunk_id,
        text=text,
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        section=str(meta.get("section", "")),
        score=score,
        page=int(page) if page is not None else None,
    )


class ChromaStore:
    def __init__(self, collection: Any, query_batch: int = 1) -> None:
        self._collection = collection
        # Concurrent turns' searches of the whole collection share one query call (`SharedPasses`): under load,
        # 32 threads' single queries spent ~20% of the CPU in the embedded client, ten times a batched call's.
        self._shared: dict[int, SharedPasses] = {}
        self._shared_lock = threading.Lock()
        self._query_batch = query_batch

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray, extra: dict[str, str | int]) -> None:
        size = self._collection._client.get_max_batch_size()  # Chroma refuses larger batches
        for start in range(0, len(chunks), size):
            part = chunks[start : start + size]
            self._collection.upsert(
                ids=[c.id for c in part],
                documents=[c.text for c in part],
                embeddings=list(embeddings[start : start + size]),
                metadatas=[c.metadata() | extra for c in part],
            )

    def query(self, embedding: np.ndarray, k: int, where: Where | None = None) -> list[Hit]:
        # No count() first: Chroma 1.x answers an empty collection with empty lists, and the extra call cost as
        # much as the query under load.
        found = self._collection.query(
            query_embeddings=[np.asarray(embedding).reshape(-1)], n_results=k, where=where or None,
            include=["documents", "metadatas", "distances", "embeddings"],
        )
        rows = zip(found["ids"][0], found["documents"][0], found["metadatas"][0], found["distances"][0],
                   found["embeddings"][0], strict=True)
        return [Hit(_passage(i, t, m, 1.0 - float(d)), np.asarray(v, dtype=np.float32)) for i, t, m, d, v in rows]

    def nearest_many(self, embeddings: np.ndarray, k: int, where: Where | None = None) -> list[list[tuple[str, float]]]:
        if where or self._query_batch <= 1:  # filtered searches (one conversation's uploads) are not shared
            return self._nearest(list(embeddings), k, where)
        with self._shared_lock:
            shared = self._shared.get(k)
            if shared is None:
                shared = self._shared[k] = SharedPasses(lambda vectors: self._nearest(vectors, k), self._query_batch,
                                                        join=chain)
        return shared.run(list(embeddings))

    def _nearest(self, embeddings: list[np.ndarray], k: int, where: Where | None = None) -> list[list[tuple[str, float]]]:
        # A message and its parts go in one call: each call costs as much again. Distances only: bringing back
        # texts, metadata and vectors cost as much as the search itself (1.8 against 1.0 ms of CPU for one row).
        found = self._collection.query(query_embeddings=embeddings, n_results=k, where=where or None,
                                       include=["distances"])
        return [[(i, 1.0 - float(d)) for i, d in zip(ids, distances, strict=True)]
                for ids, distances in zip(found["ids"], found["distances"], strict=True)]

    def get(self, ids: Sequence[str]) -> list[Hit]:
        if not ids:
            return []
        found = self._collection.get(ids=list(ids), include=["documents", "metadatas", "embeddings"])
        rows = zip(found["ids"], found["documents"], found["metadatas"], found["embeddings"], strict=True)
        return [Hit(_passage(i, t, m, 0.0), np.asarray(v, dtype=np.float32)) for i, t, m, v in rows]

    def texts(self) -> list[tuple[str, str, dict[str, Any]]]:
        found = self._collection.get(include=["documents", "metadatas"])
        return list(zip(found["ids"], found["documents"], found["metadatas"], strict=True))

    def delete(self, where: Where) -> None:
        self._collection.delete(where=where)

    def count(self) -> int:
        return self._collection.count()


class ChromaBackend:
    """Opens collections on one Chroma client. `url` selects a server; otherwise `path` on disk."""

    def __init__(self, embedder: Embedder, path: str = "", url: str = "", query_batch: int = 1) -> None:
        self._embedder = embedder
        self._query_batch = query_batch
        settings = ChromaSettings(anonymized_telemetry=False)
        try:
            if url:
                self._client = _http_client(url, settings)
            else:
                self._client = chromadb.PersistentClient(path=path, settings=settings)
        except Exception as exc:
            raise KnowledgeUnavailable(f"cannot reach Chroma at {url or path}: {exc}") from exc

    def open(self, name: str, create: bool = True) -> ChromaStore | None:
        function = MiniLMEmbeddingFunction(self._embedder)
        try:
            if not create:
                if name not in {c.name for c in self._client.list_collections()}:
                    return None
                return ChromaStore(self._client.get_collection(name, embedding_function=function), self._query_batch)
            collection = self._client.get_or_create_collection(
                name,
                embedding_function=function,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"created_at": time.time()},
            )
        except Exception as exc:
            raise KnowledgeUnavailable(f"cannot open Chroma collection {name!r}: {exc}") from exc
        return ChromaStore(collection, self._query_batch)

    def drop(self, name: str) -> None:
        try:
            self._client.delete_collection(name)
        except Exception as exc:
            if "does not exist" not in str(exc).lower():
                raise KnowledgeUnavailable(f"cannot delete Chroma collection {name!r}: {exc}") from exc

    def names(self, prefix: str) -> dict[str, float]:
        found = {}
        for collection in self._client.list_collections():
            if collection.name.startswith(prefix):
                found[collection.name] = float((collection.metadata or {}).get("created_at", 0.0))
        return found


def heartbeat(url: str) -> None:
    """Raise unless the Chroma server at `url` answers (readiness)."""
    _http_client(url, ChromaSettings(anonymized_telemetry=False)).heartbeat()


def _http_client(url: str, settings: ChromaSettings) -> Any:
    parts = urlsplit(url)
    return chromadb.HttpClient(
        host=parts.hostname or "localhost", port=parts.port or (443 if parts.scheme == "https" else 8000),
        ssl=parts.scheme == "https", settings=settings,
    )
