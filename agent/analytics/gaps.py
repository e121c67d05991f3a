"""Content gaps grouped by meaning: which article the knowledge base is missing, and how often it was needed.

The questions come from the content_gaps table (agent/datalayer/analytics_gaps.py): customer messages the
assistant could not answer from the knowledge base, or whose answer got a 👎 or a hand-over. Each is embedded
with the app's sentence embedder (MiniLM; a vector cached in the row is reused, a missing one is computed and
written back, so the next view embeds only new questions), then grouped by agglomerative clustering with average
linkage on cosine distance: two groups merge while their questions are, on average, closer than
`distance_threshold`. The default, 0.5, was chosen on a few dozen shop questions: at 0.5 "can I pay with PayPal",
"do you take paypal", "paypal accepted?" and "Can I use PayPal at checkout?" form one group, "do you ship to
Iceland" and "shipping to Norway possible?" another, and "Is Apple Pay supported?" stays apart; at 0.6 Apple Pay
joins PayPal, at 0.35 the shipping questions split.

A cached vector of another size than the embedder's (the model was changed) is recomputed; a model changed for
one of the same size is not detected: clear the column (UPDATE content_gaps SET embedding = NULL) after such
a change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from agent.datalayer.analytics_gaps import GapQueries, GapQuestion

DEFAULT_DISTANCE = 0.5
EXAMPLES = 3  # distinct example questions shown per group
LINKED_CONVERSATIONS = 10  # conversations linked per group, most recent first
VECTOR_TYPE = np.float32


class SentenceEmbedder(Protocol):
    """knowledge.embedder.Embedder, or knowledge.testing.FakeEmbedder in tests: unit-length vectors."""

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class GapGroup:
    size: int  # questions (customer messages) in the group
    missed: int  # of which the knowledge base had no answer for
    rated_down: int  # of which the answer got a 👎
    handed_over: int  # of which the customer was handed over to a person
    examples: list[str]  # up to EXAMPLES distinct questions, most recent first
    thread_ids: list[str]  # up to LINKED_CONVERSATIONS conversations, most recent first
    last_asked: datetime


def cluster(vectors: np.ndarray, distance_threshold: float) -> list[int]:
    """A group label per vector: average-linkage agglomerative clustering on cosine distance."""
    if len(vectors) < 2:
        return [0] * len(vectors)
    model = AgglomerativeClustering(
        n_clusters=None, distance_threshold=distance_threshold, metric="cosine", linkage="average"
    )
    return [int(label) for label in model.fit_predict(vectors)]


def _distinct(texts: Sequence[str], limit: int) -> list[str]:
    seen: set[str] = set()
    chosen: list[str] = []
    for text in texts:
        key = " ".join(text.casefold().split())
        if key and key not in seen:
            seen.add(key)
            chosen.append(" ".join(text.split()))
        if len(chosen) == limit:
            break
    return chosen


def group(questions: Sequence[GapQuestion], labels: Sequence[int]) -> list[GapGroup]:
    """Groups of `questions` (newest first) by label, largest first, then the most recently asked."""
    members: dict[int, list[GapQuestion]] = {}
    for question, label in zip(questions, labels, strict=True):
        members.setdefault(label, []).append(question)
    groups = []
    for items in members.values():
        items.sort(key=lambda q: q.asked_at, reverse=True)
        threads = list(dict.fromkeys(q.thread_id for q in items))
        groups.append(GapGroup(
            size=len(items),
            missed=sum("missed" in q.kinds for q in items),
            rated_down=sum("rated_down" in q.kinds for q in items),
            handed_over=sum("handed_over" in q.kinds for q in items),
            examples=_distinct([q.question for q in items], EXAMPLES),
            thread_ids=threads[:LINKED_CONVERSATIONS],
            last_asked=items[0].asked_at,
        ))  # fmt: skip
    groups.sort(key=lambda g: (-g.size, -g.last_asked.timestamp()))
    return groups


class ContentGaps:
    """The gap questions of a date range, embedded (with the cache) and grouped by meaning."""

    def __init__(self, queries: GapQueries, embedder: SentenceEmbedder, *, max_questions: int = 500,
                 distance_threshold: float = DEFAULT_DISTANCE) -> None:
        self.queries = queries
        self.embedder = embedder
        self.max_questions = max_questions
        self.distance_threshold = distance_threshold

    async def groups(self, since: datetime, until: datetime) -> list[GapGroup]:
        questions = await self.queries.questions(since, until, self.max_questions)
        if not questions:
            return []
        vectors = await self.vectors(questions)
        labels = await asyncio.to_thread(cluster, vectors, self.distance_threshold)
        return group(questions, labels)

    async def vectors(self, questions: Sequence[GapQuestion]) -> np.ndarray:
        """One unit vector per question: the cached one, or embedded now and cached."""
        dimension = await asyncio.to_thread(lambda: self.embedder.dimension)  # may load the model
        width = dimension * np.dtype(VECTOR_TYPE).itemsize
        cached = [q.embedding if q.embedding is not None and len(q.embedding) == width else None for q in questions]
        missing = [n for n, data in enumerate(cached) if data is None]
        vectors = np.zeros((len(questions), dimension), dtype=VECTOR_TYPE)
        for n, data in enumerate(cached):
            if data is not None:
                vectors[n] = np.frombuffer(data, dtype=VECTOR_TYPE)
        if missing:
            fresh = await asyncio.to_thread(self.embedder.embed, [questions[n].question for n in missing])
            fresh = np.asarray(fresh, dtype=VECTOR_TYPE)
            vectors[missing] = fresh
            await self.queries.save_embeddings(
                [(questions[n].thread_id, questions[n].step_id, fresh[i].tobytes()) for i, n in enumerate(missing)]
            )
        return vectors
