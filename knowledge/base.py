"""The knowledge base: hybrid retrieval (dense MiniLM + BM25, fused by reciprocal rank) over a VectorStore.

Ranking uses both signals; relevance (the "I don't know" line) uses the dense cosine
similarity, which is calibrated on `knowledge/eval/calibration.jsonl`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bm25s
import numpy as np

from knowledge.embedder import Embedder
from knowledge.glossary import Glossary
from knowledge.settings import KnowledgeSettings
from knowledge.spelling import SpellingCorrector
from knowledge.pipeline import ChunkingOptions, FileResult, Ingestor, IngestReport
from knowledge.sentence_index import SentenceIndex
from knowledge.subqueries import SubqueryOptions, default_subquery_options, fuse, subqueries
from knowledge.text import in_context, split_sentences
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
    # Long multi-part messages; until every caller passes its settings, the documented defaults apply.
    subqueries: SubqueryOptions = field(default_factory=default_subquery_options)
    companion_min_score: float = field(default_factory=lambda: KnowledgeSettings.model_construct().companion_min_score)
    heading_weight: float = field(default_factory=lambda: KnowledgeSettings.model_construct().heading_weight)
    sentence_weight: float = field(default_factory=lambda: KnowledgeSettings.model_construct().sentence_weight)
    sentence_index_max: int = field(default_factory=lambda: KnowledgeSettings.model_construct().sentence_index_max)


class _KeywordIndex:
    """BM25 over every chunk in the store, rebuilt when the store changes: over the chunks' text, and
    separately over their headings (a heading names what its section's text often leaves implicit, but
    folded into the text it would outweigh the body's words)."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._meta: list[dict[str, Any]] = []
        self._bm25: dict[str, bm25s.BM25] = {}
        self.speller = SpellingCorrector(set())

    def build(self, rows: list[tuple[str, str, dict[str, Any]]]) -> None:
        self._ids = [r[0] for r in rows]
        self._meta = [r[2] for r in rows]
        self._bm25 = {}
        self.speller = SpellingCorrector.from_texts([r[1] for r in rows])
        if rows:
            fields = {"text": [r[1] for r in rows],
                      "heading": [str(m.get("section") or m.get("title") or "") for m in self._meta]}
            for name, texts in fields.items():
                bm25 = bm25s.BM25()
                bm25.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
                self._bm25[name] = bm25

    def ids(self, where: dict[str, Any] | None) -> set[str] | None:
        """The chunks `where` selects; None when it selects them all."""
        if not where:
            return None
        return {i for i, meta in zip(self._ids, self._meta, strict=True)
                if all(meta.get(key) == value for key, value in where.items())}

    def search(self, query: str, k: int, where: dict[str, Any] | None, field: str = "text") -> list[str]:
        if field not in self._bm25:
            return []
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        docs, scores = self._bm25[field].retrieve(tokens, k=len(self._ids), show_progress=False)
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
                 retrieval: RetrievalOptions, glossary: Glossary | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.ingestor = Ingestor(store, embedder, chunking)
        self.options = retrieval
        self.glossary = glossary or Glossary()
        self._keywords = _KeywordIndex()
        self._sentences = SentenceIndex.empty()
        self._keywords_built_at: float | None = None
        self._keywords_count = -1
        # Passages fetched by id (every retriever gives ids), with their vectors: the same help-centre passages come
        # back question after question. Kept as long as the indexes' snapshot (which holds every text anyway).
        self._stored: dict[str, Hit] = {}
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

    def warm(self) -> None:
        """Build the BM25 and sentence indexes now (embedding every sentence takes seconds), not at the first question.

        The extractive answerer reads each sentence twice, alone and in its article and section; both readings
        are embedded here, into the embedder's cache, so no customer's answer waits for them.
        """
        self._keyword_index()
        if len(self._sentences):  # the index is on: the help centre is small enough to read sentence by sentence
            self.embedder.embed([in_context(str(meta.get("title", "")), str(meta.get("section", "")), sentence)
                                 for _, text, meta in self.store.texts() for sentence in split_sentences(text)])

    def _keyword_index(self) -> _KeywordIndex:
        """The BM25 index (and the sentence index beside it), rebuilt when the store changed."""
        with self._lock:
            now = time.monotonic()
            stale = self._keywords_built_at is None or now - self._keywords_built_at > self.options.keyword_refresh_s
            # Another instance may have ingested into a shared Chroma server: rebuild when the count moves.
            if stale and (self._keywords_built_at is None or self.store.count() != self._keywords_count):
                rows = self.store.texts()
                self._stored = {}
                # A new index replaces the old one whole: searches running meanwhile keep reading the old one
                # (built in place, a search could meet the new ids with the old BM25 arrays).
                fresh = _KeywordIndex()
                fresh.build(rows)
                self._keywords = fresh
                if self.options.sentence_weight:
                    self._sentences = SentenceIndex.build(self.embedder, rows, self.options.sentence_index_max)
                self._keywords_count = len(rows)
            if stale:
                self._keywords_built_at = now
            return self._keywords

    def search(self, query: str, k: int | None = None, where: dict[str, Any] | None = None) -> list[Passage]:
        """Best passages first (reciprocal-rank fusion); each scored by its dense cosine similarity.

        A long message is also searched part by part (`knowledge.subqueries`), each passage then scored
        by its best similarity to the message or one of its parts."""
        k = k or self.options.top_k
        keywords, corrected = self._prepared(query)
        ranked = self._ranked(keywords, corrected, max(self.options.candidates, k), where)
        return self._stating_terms(keywords, corrected, [h.passage for h in self._without_duplicates(ranked)[:k]],
                                   where)

    def _prepared(self, query: str) -> tuple[_KeywordIndex, str]:
        """The keyword index this search reads (one snapshot for all of it) and the query spelt right by it."""
        keywords = self._keyword_index()
        return keywords, keywords.speller.correct(query)

    def _stating_terms(self, keywords: _KeywordIndex, corrected: str, found: list[Passage],
                       where: dict[str, Any] | None) -> list[Passage]:
        """`found`, where the help centre's term for the customer's words (the glossary's: "other payment services"
        for "can I pay with Venmo?") is stated: a passage that states it answers the question, however little
        its wording resembles the customer's (its score is raised to `min_score`), and when no passage found
        states it, the one that does and is most like the question is added. Without it, "We do not accept ...
        other payment services" scored under the relevance bar, and "must be unused" was never retrieved for
        "I wore them once"."""
        terms = self.glossary.terms(corrected)
        if not terms:
            return found
        states = self.glossary.states
        bar = self.options.min_score
        found = [p.with_score(max(p.score, bar)) if any(states(p.text, t) for t in terms) else p for p in found]
        vector = self.embedder.embed([self.glossary.expand(corrected)])[0]  # the search's own: cached
        for term in terms:
            if any(states(p.text, term) for p in found):
                continue
            hits = [h for h in self._get(keywords.search(term, self.options.candidates, where))
                    if states(h.passage.text, term)]
            if hits:
                best = max(hits, key=lambda h: float(h.vector @ vector))
                found.append(best.passage.with_score(max(float(best.vector @ vector), bar)))
        return found

    def documents(self, query: str, k: int | None = None, where: dict[str, Any] | None = None) -> list[Passage]:
        """Distinct documents, best first: each document once, in the rank of its best-ranked passage,
        represented by its best-scoring passage."""
        k = k or self.options.top_k
        n = max(self.options.candidates, k)
        best: dict[str, Passage] = {}
        keywords, corrected = self._prepared(query)
        while True:
            for hit in self._ranked(keywords, corrected, n, where):
                source = hit.passage.source
                if source not in best or hit.passage.score > best[source].score:
                    best[source] = hit.passage  # the first time fixes the rank; a better score replaces the passage
            # The candidates `search` ranks may hold fewer than k documents: more candidates add documents
            # after those, so the first ones stay where `search` puts them.
            if len(best) >= k or n >= self.store.count():
                return list(best.values())[:k]
            n *= 2

    def _ranked(self, keywords: _KeywordIndex, corrected: str, n: int, where: dict[str, Any] | None) -> list[Hit]:
        """Every candidate of the dense, sentence and BM25 retrievers, for the message and its parts, fused.

        A passage is scored by its own similarity or its best sentence's, whichever is higher."""
        query = self.glossary.expand(corrected)
        texts = [query, *subqueries(query, self.options.subqueries)]
        vectors = self.embedder.embed(texts)  # one batched call for the message and all its parts
        rankings: list[tuple[float, list[str]]] = []
        sentence_scores: dict[str, float] = {}
        allowed = keywords.ids(where) if len(self._sentences) else None
        denses = self.store.nearest_many(vectors, n, chroma_where(where))
        for index, (text, vector, dense) in enumerate(zip(texts, vectors, denses, strict=True)):
            weight = 1.0 if index == 0 else self.options.subqueries.weight
            rankings.append((weight, [i for i, _ in dense]))
            if len(self._sentences):
                best = self._sentences.best(vector, n, allowed)
                for chunk, score in best.items():
                    sentence_scores[chunk] = max(score, sentence_scores.get(chunk, score))
                rankings.append((weight * self.options.sentence_weight, list(best)))
            if self.options.keyword_weight:
                rankings.append((weight * self.options.keyword_weight, keywords.search(text, n, where)))
            if self.options.heading_weight:
                rankings.append((weight * self.options.heading_weight, keywords.search(text, n, where, "heading")))
        ordered = fuse(rankings, self.options.rrf_k)
        # Every retriever gave ids; the passages come from the ones kept (`_get`). A passage is as relevant as the
        # part of the message it answers: its best similarity to the message or one of its parts.
        hits = {h.passage.id: Hit(h.passage.with_score(float(np.max(vectors @ h.vector))), h.vector)
                for h in self._get(ordered)}
        for i, score in sentence_scores.items():
            if i in hits and score > hits[i].passage.score:
                hits[i] = Hit(hits[i].passage.with_score(score), hits[i].vector)
        return [hits[i] for i in ordered if i in hits]

    def _get(self, ids: list[str]) -> list[Hit]:
        stored = self._stored  # the snapshot this search's indexes belong to (a rebuild replaces the dict)
        fetched = self.store.get([i for i in ids if i not in stored])
        stored.update((hit.passage.id, hit) for hit in fetched)
        return [stored[i] for i in ids if i in stored]

    def _without_duplicates(self, hits: list[Hit]) -> list[Hit]:
        if not hits:
            return []
        # Every pair's similarity in one product (a dot product per pair cost more in numpy's call than in maths).
        vectors = np.stack([hit.vector for hit in hits])
        similar = vectors @ vectors.T >= self.options.duplicate_similarity
        kept: list[int] = []
        for i in range(len(hits)):
            if not similar[i, kept].any():
                kept.append(i)
        return [hits[i] for i in kept]

    def relevant(self, passages: list[Passage]) -> list[Passage]:
        """The passages that answer, or none. Whether the question is answered at all is decided by the best
        passage's similarity (`min_score`, calibrated); once it is, the other retrieved passages above the
        lower `companion_min_score` stay too: the section that holds a rule's condition ("Return Window and
        Eligibility" beside "How to Start a Return") is often worded less like the question than its neighbour."""
        if not any(p.score >= self.options.min_score for p in passages):
            return []
        floor = min(self.options.min_score, self.options.companion_min_score)
        return [p for p in passages if p.score >= floor]

    async def asearch(self, query: str, k: int | None = None, where: dict[str, Any] | None = None) -> list[Passage]:
        # Embedding and local Chroma are CPU-bound and synchronous; keep the event loop free.
        return await asyncio.to_thread(self.search, query, k, where)


def merge(*rankings: list[Passage], k: int) -> list[Passage]:
    """Interleave several best-first lists by score, keeping each passage once."""
    seen: dict[str, Passage] = {}
    for passage in sorted((p for r in rankings for p in r), key=lambda p: -p.score):
        seen.setdefault(passage.id, passage)
    return list(seen.values())[:k]

