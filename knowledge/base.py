"""The knowledge base: keep the vector store in sync with a folder, and search it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.embedder import Embedder
from knowledge.markdown import split_markdown
from knowledge.types import Chunk, Passage
from knowledge.vectorstore import VectorStore

log = logging.getLogger(__name__)
DOC_SUFFIXES = (".md", ".markdown", ".txt")
# Bump when chunking changes, so stored documents are re-split even though their files did not change.
PIPELINE_VERSION = "4"


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    chunks: int = 0


def embedding_text(chunk: Chunk) -> str:
    """Headings carry meaning the body text often omits ("Return window: 30 days")."""
    return ". ".join(part for part in (chunk.title, chunk.section, chunk.text) if part)


class KnowledgeBase:
    def __init__(self, store: VectorStore, embedder: Embedder, *, chunk_max_words: int, top_k: int, min_score: float) -> None:
        self.store = store
        self.embedder = embedder
        self.chunk_max_words = chunk_max_words
        self.top_k = top_k
        self.min_score = min_score

    def sync(self, docs_dir: Path) -> SyncReport:
        """Ingest new and changed documents, drop removed ones; unchanged files cost nothing."""
        report = SyncReport()
        known = self.store.source_hashes()
        present = set()
        for path in sorted(p for p in docs_dir.rglob("*") if p.suffix.lower() in DOC_SUFFIXES):
            source = path.relative_to(docs_dir).as_posix()
            present.add(source)
            raw = path.read_bytes()
            doc_hash = hashlib.sha256(f"{PIPELINE_VERSION}:{self.chunk_max_words}:".encode() + raw).hexdigest()
            if known.get(source) == doc_hash:
                report.unchanged += 1
                continue
            chunks = split_markdown(raw.decode("utf-8", errors="replace"), source, self.chunk_max_words)
            vectors = self.embedder.embed([embedding_text(c) for c in chunks])
            # Write the new version before deleting the old one, so a failure leaves a whole document.
            self.store.upsert(chunks, vectors, {"doc_hash": doc_hash})
            self.store.delete_source(source, keep_hash=doc_hash)
            (report.updated if source in known else report.added).append(source)
            report.chunks += len(chunks)
        for source in sorted(set(known) - present):
            self.store.delete_source(source)
            report.removed.append(source)
        log.info(
            "knowledge sync: %d added, %d updated, %d removed, %d unchanged, %d chunks written",
            len(report.added), len(report.updated), len(report.removed), report.unchanged, report.chunks,
        )
        return report

    def search(self, query: str, k: int | None = None) -> list[Passage]:
        """Nearest passages, best first, whatever their score."""
        vector = self.embedder.embed([query])[0]
        return self.store.query(vector, k or self.top_k)

    def relevant(self, passages: list[Passage]) -> list[Passage]:
        return [p for p in passages if p.score >= self.min_score]

    async def asearch(self, query: str, k: int | None = None) -> list[Passage]:
        # Embedding and local Chroma are CPU-bound and synchronous; keep the event loop free.
        return await asyncio.to_thread(self.search, query, k)
