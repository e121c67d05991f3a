"""Retrieval metrics over labelled questions: recall@k, MRR and nDCG@10, always over distinct documents.

Each question lists the documents (file names or chunk ids) that answer it. Every metric counts
distinct documents in rank order, so several chunks of one article count once. Two rankings:

- passages (default): the top `max(k, 10)` passages `search` returns, reduced to their documents;
  an answer sees these, but they may hold fewer than k documents.
- documents (`documents=True`): `documents(question, k)` ranks k distinct documents, so recall@k
  is over the first k documents, never over fewer.
"""

from __future__ import annotations

import math
from pathlib import PurePath
from typing import Any, Protocol

from knowledge.types import Passage

NDCG_DEPTH = 10


class Searchable(Protocol):
    def search(self, query: str, k: int | None = None) -> list[Passage]: ...


class DocumentSearchable(Searchable, Protocol):
    def documents(self, query: str, k: int | None = None) -> list[Passage]:
        """Each document once, best first, represented by one of its passages."""
        ...


def _matches(passage: Passage, label: str) -> bool:
    return label in (passage.id, passage.source, PurePath(passage.source).name)


def ranked_documents(passages: list[Passage], relevant: list[str]) -> list[tuple[str, bool]]:
    seen: dict[str, bool] = {}
    for passage in passages:
        hit = next((label for label in relevant if _matches(passage, label)), None)
        seen.setdefault(hit or passage.source, hit is not None)
    return list(seen.items())


def score_question(passages: list[Passage], relevant: list[str], k: int) -> dict[str, float]:
    docs = ranked_documents(passages, relevant)
    found_at_k = {name for name, hit in docs[:k] if hit}
    first = next((rank for rank, (_name, hit) in enumerate(docs, 1) if hit), None)
    dcg = sum(1 / math.log2(rank + 1) for rank, (_n, hit) in enumerate(docs[:NDCG_DEPTH], 1) if hit)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(relevant), NDCG_DEPTH) + 1))
    return {
        f"recall@{k}": len(found_at_k) / len(relevant),
        "mrr": 1 / first if first else 0.0,
        "ndcg@10": dcg / ideal if ideal else 0.0,
    }


def evaluate(kb: Searchable | DocumentSearchable, rows: list[dict[str, Any]], k: int,
             documents: bool = False) -> dict[str, Any]:
    """Metrics per question and on average; `documents` ranks distinct documents (a `DocumentSearchable`)."""
    per_question = []
    for row in rows:
        depth = max(k, NDCG_DEPTH)
        passages = kb.documents(row["question"], depth) if documents else kb.search(row["question"], depth)
        scores = score_question(passages, row["relevant"], k)
        per_question.append({"question": row["question"], "relevant": row["relevant"],
                             "retrieved": [name for name, _ in ranked_documents(passages, row["relevant"])],
                             **scores})
    summary: dict[str, Any] = {"questions": len(rows), "k": k, "ranking": "documents" if documents else "passages"}
    for metric in (f"recall@{k}", "mrr", "ndcg@10"):
        summary[metric] = sum(q[metric] for q in per_question) / len(per_question) if per_question else 0.0
    misses = [q for q in per_question if q["mrr"] == 0 or q[f"recall@{k}"] == 0]
    return {"summary": summary, "questions": per_question, "misses": misses}
