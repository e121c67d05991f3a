"""Sentence-level retrieval over the store's chunks ("small to big").

A chunk's vector averages its sentences: the one sentence that decides a question ("We do not match
prices from other retailers") is diluted by its neighbours and may rank below a chunk that only shares
the question's topic. Every chunk's sentences are therefore embedded too, and a chunk is also ranked,
and scored, by its best sentence. The index lives in memory beside the BM25 index and is rebuilt with
it; the embedder's cache keeps a rebuild cheap, and these are the very sentences the extractive
answerer scores, so building it at start warms the answerer too.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from knowledge.embedder import Embedder
from knowledge.text import split_sentences

log = logging.getLogger(__name__)

MIN_WORDS = 3  # "Note:", "Yes." and headings alone say nothing a question can match


class SentenceIndex:
    def __init__(self, owners: list[str], vectors: np.ndarray) -> None:
        self._owners = owners  # the chunk id of each row of `vectors`
        self._vectors = vectors

    @classmethod
    def empty(cls) -> SentenceIndex:
        return cls([], np.zeros((0, 0), dtype=np.float32))

    @classmethod
    def build(cls, embedder: Embedder, rows: list[tuple[str, str, dict[str, Any]]], limit: int) -> SentenceIndex:
        """The sentences of every chunk in `rows` (id, text, metadata); empty when there are more than `limit`."""
        owners: list[str] = []
        texts: list[str] = []
        for chunk_id, text, _ in rows:
            for sentence in split_sentences(text):
                if len(sentence.split()) >= MIN_WORDS:
                    owners.append(chunk_id)
                    texts.append(sentence)
        if not texts or len(texts) > limit:
            if texts:
                log.warning("sentence ranking off: %d sentences exceed KNOWLEDGE_SENTENCE_INDEX_MAX=%d",
                            len(texts), limit)
            return cls.empty()
        return cls(owners, embedder.embed(texts))

    def __len__(self) -> int:
        return len(self._owners)

    def best(self, vector: np.ndarray, n: int, allowed: set[str] | None = None) -> dict[str, float]:
        """The `n` chunks with the most similar sentences, best first, each with its best sentence's similarity."""
        if not self._owners:
            return {}
        scores = self._vectors @ vector
        chunks: dict[str, float] = {}
        for row in np.argsort(-scores):
            owner = self._owners[row]
            if owner in chunks or (allowed is not None and owner not in allowed):
                continue
            chunks[owner] = float(scores[row])
            if len(chunks) == n:
                break
        return chunks
