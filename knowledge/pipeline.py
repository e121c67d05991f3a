"""Ingestion: convert → clean → split → embed → write, one document at a time.

Incremental: a document whose content (and pipeline version) is unchanged is skipped
without embedding anything. All-or-nothing per document: chunk ids include the content
hash, so a new version is written beside the old one, which is deleted only once the
new one is whole. A source counts as ingested only if all its chunks are present.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from knowledge.clean import clean
from knowledge.convert import convert
from knowledge.embedder import Embedder
from knowledge.errors import ConversionError
from knowledge.split import split
from knowledge.types import Chunk, Document
from knowledge.vectorstore import VectorStore

log = logging.getLogger(__name__)

# Bump when conversion or chunking changes, so unchanged files are re-split anyway.
PIPELINE_VERSION = "8"


@dataclass
class FileResult:
    source: str
    status: str  # added, updated, unchanged, removed, skipped
    chunks: int = 0
    reason: str = ""


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    def of(self, status: str) -> list[FileResult]:
        return [r for r in self.results if r.status == status]

    @property
    def chunks_written(self) -> int:
        return sum(r.chunks for r in self.results if r.status in ("added", "updated"))

    @property
    def ok(self) -> bool:
        """False only when files were offered and none could be ingested."""
        offered = [r for r in self.results if r.status != "removed"]
        return not offered or any(r.status != "skipped" for r in offered)


@dataclass(frozen=True)
class ChunkingOptions:
    max_words: int
    overlap_words: int
    max_file_bytes: int
    group_chunks: int  # chunks embedded together; the embedder sorts each call by length, so bigger pads less


class Ingestor:
    def __init__(self, store: VectorStore, embedder: Embedder, options: ChunkingOptions) -> None:
        self.store = store
        self.embedder = embedder
        self.options = options

    def version_hash(self, content_hash: str) -> str:
        o = self.options
        return hashlib.sha256(f"{PIPELINE_VERSION}:{o.max_words}:{o.overlap_words}:{content_hash}".encode()).hexdigest()

    def complete_sources(self) -> dict[str, tuple[str, str]]:
        """source → (version hash, root) for every source whose chunks are all present."""
        seen: dict[tuple[str, str], int] = {}
        expected: dict[tuple[str, str], int] = {}
        roots: dict[str, str] = {}
        for _id, _text, meta in self.store.texts():
            key = (str(meta["source"]), str(meta.get("doc_hash", "")))
            seen[key] = seen.get(key, 0) + 1
            expected[key] = int(meta.get("chunk_count", 0))
            roots[key[0]] = str(meta.get("root", ""))
        return {source: (doc_hash, roots[source]) for (source, doc_hash), n in seen.items() if n == expected[(source, doc_hash)]}

    def ingest_bytes(self, data: bytes, filename: str, source: str, root: str = "",
                     known: dict[str, tuple[str, str]] | None = None) -> FileResult:
        prepared = self._prepare(data, filename, source, root, self.complete_sources() if known is None else known)
        if isinstance(prepared, FileResult):
            return prepared
        return self._write_all([prepared])[0]

    def _prepare(self, data: bytes, filename: str, source: str, root: str,
                 known: dict[str, tuple[str, str]]) -> _Prepared | FileResult:
        """Convert, clean and split one file, unless its stored version is already current."""
        version = self.version_hash(hashlib.sha256(data).hexdigest())
        if known.get(source, ("", ""))[0] == version:
            return FileResult(source, "unchanged")  # decided before parsing: unchanged files cost nothing
        try:
            document = convert(data, filename, source=source, max_bytes=self.options.max_file_bytes)
        except ConversionError as exc:
            return FileResult(source, "skipped", reason=str(exc))
        chunks = split(clean(document), self.options.max_words, self.options.overlap_words)
        if not chunks:
            return FileResult(source, "skipped", reason="no text left after cleaning")
        # Ids carry the version, so the new chunks never overwrite the old ones mid-write.
        extra = {"doc_hash": version, "chunk_count": len(chunks), "root": root, "kind": document.kind}
        chunks = [replace(c, id=hashlib.sha1(f"{c.id}:{version}".encode()).hexdigest()[:24], extra=extra)
                  for c in chunks]
        return _Prepared(document, chunks, version, "updated" if source in known else "added")

    def _write_all(self, batch: list[_Prepared]) -> list[FileResult]:
        """Embed and write several documents together (small calls waste the CPU and the store).

        A document counts only once all its chunks are stored (`complete_sources`), so a crash
        mid-write leaves the previous version in charge; an error removes the new versions.
        """
        chunks = [c for item in batch for c in item.chunks]
        vectors = self.embedder.embed([embedding_text(c) for c in chunks])
        try:
            self.store.upsert(chunks, vectors, {})
        except Exception:
            for item in batch:
                self.store.delete({"$and": [{"source": item.document.source}, {"doc_hash": item.version}]})
            raise
        for item in batch:
            self.store.delete({"$and": [{"source": item.document.source}, {"doc_hash": {"$ne": item.version}}]})
        return [FileResult(item.document.source, item.status, len(item.chunks)) for item in batch]

    def ingest_paths(self, paths: Iterable[Path], rebuild: bool = False,
                     progress: Callable[[str], None] | None = None) -> IngestReport:
        """Ingest files and folders. Files that disappeared from an ingested folder are removed."""
        started = time.perf_counter()
        report = IngestReport()
        if rebuild:
            for source in {str(m["source"]) for _i, _t, m in self.store.texts()}:
                self.store.delete({"source": source})
        known = self.complete_sources()
        pending: list[_Prepared] = []
        for root, files in _expand(paths):
            present = set()
            for path in files:
                source = path.relative_to(root).as_posix() if root else path.name
                present.add(source)
                if progress:
                    progress(source)
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    report.results.append(FileResult(source, "skipped", reason=f"cannot read the file: {exc.strerror}"))
                    continue
                prepared = self._prepare(data, path.name, source, str(root or ""), known)
                if isinstance(prepared, FileResult):
                    report.results.append(prepared)
                    continue
                pending.append(prepared)
                if sum(len(p.chunks) for p in pending) >= self.options.group_chunks:
                    report.results += self._write_all(pending)
                    pending = []
            if pending:
                report.results += self._write_all(pending)
                pending = []
            if root:
                for source, (_hash, source_root) in known.items():
                    if source_root == str(root) and source not in present:
                        self.store.delete({"source": source})
                        report.results.append(FileResult(source, "removed"))
        report.seconds = time.perf_counter() - started
        log.info("ingested %d files: %d chunks written, %d skipped in %.1f s", len(report.results),
                 report.chunks_written, len(report.of("skipped")), report.seconds)
        return report


@dataclass
class _Prepared:
    document: Document
    chunks: list[Chunk]
    version: str
    status: str


def _expand(paths: Iterable[Path]) -> list[tuple[Path | None, list[Path]]]:
    groups: list[tuple[Path | None, list[Path]]] = []
    for path in paths:
        path = path.resolve()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            groups.append((path, files))
        else:
            groups.append((None, [path]))
    return groups


def embedding_text(chunk: Chunk) -> str:
    """Headings carry meaning the body text often omits ("Return window: 30 days")."""
    return ". ".join(part for part in (chunk.title, chunk.section, chunk.text) if part)
