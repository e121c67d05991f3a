"""The knowledge base: hybrid retrieval (dense MiniLM + BM25, fused by reciprocal rank) over a VectorStore.

Ranking uses both signals; relevance (the "I don't know" line) uses the dense cosine
similarity, which is calibrated on `knowledge/eval/calibration.jsonl`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s

from knowledge.embedder import Embedder
from knowledge.spelling import SpellingCorrector
from knowledge.pipeline import ChunkingOptions, FileResult, Ingestor, IngestReport
from knowledge.types import Passage
from knowledge.vectorstore import Hit, VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrievalOptions:
    top_k: int
    min_score: float
    candidates: int  # per retriever, before fusion
    rrf_k: int
    keyword_weight: float
    duplicate_similarity: float
    keyword_refresh_s: float


class _KeywordIndex:
    """BM25 over every chunk in the store, rebuilt when the store changes."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._meta: list[dict[str, Any]] = []
        self._bm25: bm25s.BM25 | None = None
        self.speller = SpellingCorrector(set())

    def build(self, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
        self._ids = [r[0] for r in rows]
        self._meta = [r[2] for r in rows]
        self._bm25 = None
        self.speller = SpellingCorrector.from_texts([r[1] for r in rows])
        if rows:
            bm25 = bm25s.BM25()
            bm25.index(bm25s.tokenize([r[1] for r in rows], stopwords="en", show_progress=False), show_progress=False)
            self._bm25 = bm25

    def search(self, query: str, k: int, where: dict[str, Any] | None) -> list[str]:
        if self._bm25 is None:
            return []
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        docs, scores = self._bm25.retrieve(tokens, k=len(self._ids), show_progress=False)
        ranked = []
        for index, score in zip(docs[0], scores[0], strict=True):
            if score <= 0:
                break
            if where and any(self._meta[index].get(key) != value for key, value in where.items()):
                continue
            ranked.append(self._ids[index])
            if len(ranked) == k:
                break
        return ranked


def chroma_where(where: dict[str, Any] | None) -> dict[str, Any] | None:
    if not where or len(where) == 1:
        return where or None
    return {"$and": [{key: value} for key, value in where.items()]}


class KnowledgeBase:
    def __init__(self, store: VectorStore, embedder: Embedder, chunking: ChunkingOptions,
                 retrieval: RetrievalOptions) -> None:
        self.store = store
        self.embedder = embedder
        self.ingestor = Ingestor(store, embedder, chunking)
        self.options = retrieval
        self._keywords = _KeywordIndex()
        self._keywords_built_at: float | None = None
        self._keywords_count = -1
        self._lock = threading.Lock()

    @property
    def min_score(self) -> float:
        return self.options.min_score

    def ingest(self, paths: list[Path], rebuild: bool = False, progress=None) -> IngestReport:
        report = self.ingestor.ingest_paths(paths, rebuild=rebuild, progress=progress)
        self._keywords_built_at = None
        return report

    def ingest_bytes(self, data: bytes, filename: str) -> FileResult:
        result = self.ingestor.ingest_bytes(data, filename, source=filename)
        self._keywords_built_at = None
        return result

    def _keyword_index(self) -> _KeywordIndex:
        with self._lock:
            now = time.monotonic()
            stale = self._keywords_built_at is None or now - self._keywords_built_at > self.options.keyword_refresh_s
            # Another instance may have ingested into a shared Chroma server: rebuild when the count moves.
            if stale and (self._keywords_built_at is None or self.store.count() != self._keywords_count):
                rows = self.store.texts()
                self._keywords.build(rows)
                self._keywords_count = len(rows)
            if stale:
                self._keywords_built_at = now
            return self._keywords

    def search(self, query: str, k: int | None = None, where: dict[str, Any] | None = None) -> list[Passage]:
        """Best passages first (reciprocal-rank fusion); each scored by its dense cosine similarity."""
        k = k or self.options.top_k
        n = max(self.options.candidates, k)
        keywords = self._keyword_index()
        query = keywords.speller.correct(query)
        vector = self.embedder.embed([query])[0]
        dense = self.store.query(vector, n, chroma_where(where))
        keyword_ids = keywords.search(query, n, where) if self.options.keyword_weight else []
        fused: dict[str, float] = {}
        for weight, ranking in ((1.0, [h.passage.id for h in dense]), (self.options.keyword_weight, keyword_ids)):
            for rank, chunk_id in enumerate(ranking):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (self.options.rrf_k + rank + 1)
        hits = {h.passage.id: h for h in dense}
        missing = [i for i in keyword_ids if i not in hits]
        for hit in self.store.get(missing):
            hits[hit.passage.id] = Hit(hit.passage.with_score(float(hit.vector @ vector)), hit.vector)
        ordered = [hits[i] for i in sorted(fused, key=lambda i: -fused[i]) if i in hits]
        return [h.passage for h in self._without_duplicates(ordered)[:k]]

    def _without_duplicates(self, hits: list[Hit]) -> list[Hit]:
        kept: list[Hit] = []
        for hit in hits:
            if all(float(hit.vector @ other.vector) < self.options.duplicate_similarity for other in kept):
                kept.append(hit)
        return kept

    def relevant(self, passages: list[Passage]) -> list[Passage]:
        return [p for p in passages if p.score >= self.options.min_score]

    async def asearch(self, query: str, k: int | None = None, where: dict[str, Any] | None = None) -> list[Passage]:
        # Embedding and local Chroma are CPU-bound and synchronous; keep the event loop free.
        return await asyncio.to_thread(self.search, query, k, where)


def merge(*rankings: list[Passage], k: int) -> list[Passage]:
    """Interleave several best-first lists by score, keeping each passage once."""
    seen: dict[str, Passage] = {}
    for passage in sorted((p for r in rankings for p in r), key=lambda p: -p.score):
        seen.setdefault(passage.id, passage)
    return list(seen.values())[:k]

