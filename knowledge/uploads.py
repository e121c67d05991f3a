"""Files customers attach in a conversation, searchable only within that conversation.

Each conversation's files go through the same pipeline as the knowledge base, into a
Chroma collection of its own. Nothing is added to the shared knowledge base, and a
conversation can only ever open its own collection, so another conversation's (or
customer's) files are unreachable. Collections are dropped with their conversation, or
once they are older than the retention period.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from knowledge.base import KnowledgeBase
from knowledge.convert import detect_kind
from knowledge.errors import ConversionError
from knowledge.pipeline import FileResult
from knowledge.types import Passage
from knowledge.vectorstore import StoreBackend, VectorStore

log = logging.getLogger(__name__)
PREFIX = "upload-"
_SEPARATORS = re.compile(r"[\s_.\-]+")
_EXTENSION = re.compile(r"\.[a-z0-9]{1,5}$", re.I)


def file_key(text: str) -> str:
    """How a customer says a file's name: "note_25.txt", "Note-25" and "note 25" are all "note 25"."""
    return _SEPARATORS.sub(" ", _EXTENSION.sub("", text.strip()).lower()).strip()


def names_file(text: str, name: str) -> bool:
    """Does `text` name the file `name` (with or without its extension, any separators)?"""
    key = file_key(name)
    return bool(key) and re.search(rf"(?<![a-z0-9]){re.escape(key)}(?![a-z0-9])", file_key(text)) is not None


@dataclass(frozen=True)
class UploadLimits:
    max_files: int
    max_bytes: int
    allowed_types: tuple[str, ...]
    ttl_s: float
    top_k: int


def collection_for(conversation_id: str) -> str:
    # A digest, not the raw id: always a valid collection name, and nothing guessable.
    return PREFIX + hashlib.sha256(conversation_id.encode()).hexdigest()[:40]


class UploadLibrary:
    def __init__(self, backend: StoreBackend, over: Callable[[VectorStore], KnowledgeBase], limits: UploadLimits) -> None:
        self.backend = backend
        self._over = over  # builds a KnowledgeBase over one collection
        self.limits = limits

    def too_many(self, count: int) -> str | None:
        if count > self.limits.max_files:
            return f"You can attach up to {self.limits.max_files} files per message; I used the first {self.limits.max_files}."
        return None

    def add(self, conversation_id: str, data: bytes, filename: str) -> FileResult:
        """Check and ingest one file. A refused file comes back as `skipped` with the reason."""
        if len(data) > self.limits.max_bytes:
            mb = self.limits.max_bytes / (1024 * 1024)
            return FileResult(filename, "skipped", reason=f"it is larger than the {mb:g} MB limit")
        try:
            kind = detect_kind(data, filename)
        except ConversionError as exc:
            return FileResult(filename, "skipped", reason=str(exc))
        if kind not in self.limits.allowed_types:
            return FileResult(filename, "skipped", reason=f"{kind.upper()} files are not accepted here")
        result = self._over(self.backend.open(collection_for(conversation_id))).ingest_bytes(data, filename)
        log.info("conversation %s upload %s: %s %s", conversation_id, filename, result.status, result.reason)
        return result

    def search(self, conversation_id: str, query: str) -> list[Passage]:
        store = self.backend.open(collection_for(conversation_id), create=False)
        if store is None:
            return []
        kb = self._over(store)
        found = kb.relevant(kb.search(query, self.limits.top_k))
        # A file the question names is searched on its own, so its passages are there even when another
        # file reads closer to the question ("the secret word in note 2" would quote note 0's word).
        for name in sorted({str(meta.get("source", "")) for _, _, meta in store.texts()}):
            if names_file(query, name) and all(p.source != name for p in found):
                found += kb.search(query, self.limits.top_k, where={"source": name})[:1]
        return [replace(p, origin="upload") for p in found]

    def delete(self, conversation_id: str) -> None:
        self.backend.drop(collection_for(conversation_id))

    def expire(self, now: float | None = None) -> list[str]:
        """Drop every conversation's uploads older than the retention period."""
        cutoff = (now or time.time()) - self.limits.ttl_s
        expired = [name for name, created in self.backend.names(PREFIX).items() if created < cutoff]
        for name in expired:
            self.backend.drop(name)
        if expired:
            log.info("deleted %d expired upload collections", len(expired))
        return expired
