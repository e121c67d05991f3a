"""The extractive answerer: help-centre answers quoted from retrieved passages, without an LLM.

A plain component the dialogue engine calls: it quotes the sentences closest in meaning to the
question, each cited as [n] (the passage's position in the list it is given). With nothing that
answers the question it returns None, and the caller says it doesn't know rather than guess.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from agent.settings import AppSettings, OfflineSettings
from knowledge.embedder import Embedder
from knowledge.text import split_sentences
from knowledge.types import Passage

# Sentences about the article rather than the question: "See Refunds.", "This page explains..."
_NOT_AN_ANSWER = re.compile(r"^((please )?(see|read)\b|this (page|article|guide|section)\b)", re.I)


class ExtractiveAnswerer:
    def __init__(self, embedder: Embedder, settings: OfflineSettings, app: AppSettings) -> None:
        self.embedder = embedder
        self.settings = settings
        self.app = app
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()  # answers run in worker threads and share the cache

    def human_contact(self) -> str:
        return f"email {self.app.support_email} ({self.app.support_hours})"

    def dont_know(self) -> str:
        return (
            "I'm sorry, I don't know the answer to that, and I'd rather not guess. "
            f"A member of our support team can help you: {self.human_contact()}."
        )

    def answer(self, question: str, passages: Sequence[Passage]) -> str | None:
        """The cited answer to `question` from `passages`, or None when no sentence answers it."""
        candidates = [
            (ref, position, sentence)
            for ref, passage in enumerate(passages, 1)
            for position, sentence in enumerate(split_sentences(passage.text))
            if not _NOT_AN_ANSWER.match(sentence) and not sentence.endswith(":")
        ]
        if not candidates:
            return None
        query = self.embedder.embed([question])[0]
        vectors = self._sentence_vectors([c[2] for c in candidates])
        scores = vectors @ query
        best = float(np.max(scores))
        if best < self.settings.min_sentence_score:
            return None  # a related article, but no sentence that answers the question
        chosen = self._choose(scores, vectors, best)
        chosen.sort(key=lambda i: candidates[i][:2])  # reading order: by passage, then position
        parts: list[str] = []
        for n, i in enumerate(chosen):
            ref, _, sentence = candidates[i]
            last_of_ref = n + 1 == len(chosen) or candidates[chosen[n + 1]][0] != ref
            parts.append(f"{sentence} [{ref}]" if last_of_ref else sentence)
        return " ".join(parts)

    def _choose(self, scores: np.ndarray, vectors: np.ndarray, best: float) -> list[int]:
        floor = best - self.settings.sentence_margin
        chosen: list[int] = []
        for i in sorted(range(len(scores)), key=lambda i: -scores[i]):
            if len(chosen) == self.settings.max_sentences or scores[i] < floor:
                break
            # Several articles often state the same fact; quote it once.
            if all(vectors[i] @ vectors[j] < self.settings.duplicate_similarity for j in chosen):
                chosen.append(i)
        return chosen

    def _sentence_vectors(self, sentences: list[str]) -> np.ndarray:
        """Embeddings of knowledge-base sentences, cached: the same passages come back turn after turn."""
        with self._cache_lock:
            missing = list(dict.fromkeys(s for s in sentences if s not in self._cache))
        vectors = dict(zip(missing, self.embedder.embed(missing), strict=True)) if missing else {}
        with self._cache_lock:
            self._cache.update(vectors)
            for sentence in sentences:
                if sentence in self._cache:
                    self._cache.move_to_end(sentence)
            found = np.stack([self._cache[s] if s in self._cache else vectors[s] for s in sentences])
            while len(self._cache) > self.settings.sentence_cache_size:
                self._cache.popitem(last=False)
        return found
