"""Sub-queries of a long, multi-part message, and the weighted reciprocal-rank fusion of their rankings.

MiniLM reads only the first 256 word pieces of a text, and one vector for a story with three
questions lands between their articles. A long message is therefore also searched sentence by
sentence (short sentences grouped), and every ranking is fused with the whole message's one.
Short messages are never split, so their results do not change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.settings import KnowledgeSettings
from knowledge.text import split_sentences

# Customers often start a sentence in lower case, which `split_sentences` (written for documents) keeps joined.
_LOOSE_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A sentence that asks or requests something; the story around it matters less when sub-queries must be dropped.
_REQUEST = re.compile(
    r"\?|^\s*(?:and\s+|also,?\s+|so,?\s+)?(?:how|what|when|where|why|which|who|can|could|would|will|should|do|does|"
    r"is|are|please)\b|\b(?:i(?:'d| would) like|i want|i need)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SubqueryOptions:
    split_words: int  # messages with more words than this are split; 0 = never
    group_words: int  # consecutive sentences are joined until a sub-query has at least this many words
    max_subqueries: int  # the requests (questions first, latest first) are kept when there are more groups
    weight: float  # weight of each sub-query's ranking, against the whole message's (1.0)


def sentences(text: str) -> list[str]:
    return [part.strip() for sentence in split_sentences(text)
            for part in _LOOSE_SENTENCE_END.split(sentence) if part.strip()]


def _groups(parts: list[str], group_words: int) -> list[str]:
    groups: list[str] = []
    current: list[str] = []
    for part in parts:
        current.append(part)
        if sum(len(p.split()) for p in current) >= group_words:
            groups.append(" ".join(current))
            current = []
    if current:  # a short tail reads as part of the sentence before it ("..., thanks!")
        if groups:
            groups[-1] = groups[-1] + " " + " ".join(current)
        else:
            groups.append(" ".join(current))
    return groups


def subqueries(message: str, options: SubqueryOptions) -> list[str]:
    """The parts of `message` searched on their own; empty when it is short or has only one part."""
    if not options.split_words or len(message.split()) <= options.split_words:
        return []
    groups = _groups(sentences(message), options.group_words)
    if len(groups) < 2:
        return []
    if len(groups) > options.max_subqueries:
        # Requests usually come last, after the story; the whole message's own ranking still covers its start.
        order = sorted(range(len(groups)), key=lambda i: (not _REQUEST.search(groups[i]), -i))
        groups = [groups[i] for i in sorted(order[:options.max_subqueries])]
    return groups


def fuse(rankings: list[tuple[float, list[str]]], rrf_k: int) -> list[str]:
    """Weighted reciprocal-rank fusion of best-first id lists: `(weight, ids)` each; best first."""
    fused: dict[str, float] = {}
    for weight, ranking in rankings:
        for rank, item in enumerate(ranking):
            fused[item] = fused.get(item, 0.0) + weight / (rrf_k + rank + 1)
    return sorted(fused, key=lambda item: -fused[item])


def subquery_options(cfg: KnowledgeSettings) -> SubqueryOptions:
    return SubqueryOptions(cfg.subquery_split_words, cfg.subquery_group_words, cfg.subquery_max, cfg.subquery_weight)


def default_subquery_options() -> SubqueryOptions:
    """The documented defaults, for retrieval options built without these settings."""
    return subquery_options(KnowledgeSettings.model_construct())
