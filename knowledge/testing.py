"""Test doubles for the knowledge layer: an embedder that needs no model, and a store that needs no Chroma.

Use them where a test needs *some* embedding and *some* store, not MiniLM's sense of meaning:
ingestion bookkeeping, all-or-nothing writes, isolation between collections, refusals, wiring.
Keep the real `Embedder` wherever a test judges retrieval quality, routing or answer choice.

- `FakeEmbedder`: the `Embedder` interface (`embed`, `dimension`, `batch_size`, `model_path`).
  Words and character trigrams are hashed into a fixed-size vector and L2-normalised, so the same
  text always gives the same vector (in any batch, in any process) and texts that share words or
  word parts score higher than unrelated ones.
- `MemoryBackend` / `MemoryStore`: the `StoreBackend` / `VectorStore` protocols in pure Python and
  numpy, with the semantics the contract suite (tests/test_vectorstore_contract.py) asserts of
  Chroma, including its filter language and its refusals (malformed filters, duplicate ids, a
  second vector size, invalid collection names), so code that passes here does not fail on Chroma.
  Backends made with `connect()` share their collections, like two clients of one Chroma server.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from knowledge.errors import KnowledgeUnavailable
from knowledge.types import Chunk, Passage
from knowledge.vectorstore import Hit, Where

__all__ = ["FakeEmbedder", "MemoryBackend", "MemoryStore"]


# --- embedder ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
_WORD_WEIGHT = 1.0
_TRIGRAM_WEIGHT = 0.3  # "return" and "returns" share most trigrams: close, but not equal
_EMPTY = "\x00empty"  # the one feature of a text without words, so its vector is still a unit vector


@lru_cache(maxsize=1 << 16)
def _bucket(feature: str, dimension: int) -> tuple[int, float]:
    """A stable (index, sign) for a feature: blake2b, not `hash()`, which changes between processes."""
    value = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "big")
    return value % dimension, (1.0 if value >> 63 else -1.0)


def _features(text: str) -> list[tuple[str, float]]:
    words = _WORD.findall(text.lower())
    features: list[tuple[str, float]] = []
    for word in words:
        features.append(("w:" + word, _WORD_WEIGHT))
        padded = f"<{word}>"
        features.extend(("c:" + padded[i:i + 3], _TRIGRAM_WEIGHT) for i in range(len(padded) - 2))
    return features or [(_EMPTY, 1.0)]


class FakeEmbedder:
    """A deterministic, model-free stand-in for `knowledge.embedder.Embedder`.

    `calls` records how many texts each `embed` call received, e.g. to assert that nothing was embedded.
    """

    def __init__(self, dimension: int = 384, batch_size: int = 64) -> None:
        if dimension < 2:
            raise ValueError("dimension must be at least 2")
        self.model_path = f"fake-hashing-embedder-{dimension}"  # ChromaBackend records it in its config
        self.batch_size = batch_size
        self._dimension = dimension
        self.calls: list[int] = []

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls.append(len(texts))
        vectors = np.zeros((len(texts), self._dimension), dtype=np.float64)
        for row, text in enumerate(texts):
            for feature, weight in _features(text):
                index, sign = _bucket(feature, self._dimension)
                vectors[row, index] += sign * weight
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1.0  # only if features cancel out exactly: then the zero vector, as is
        return (vectors / norms).astype(np.float32)


# --- filters (Chroma's `where` language) ------------------------------------------------------------------

_COMPARISONS = ("$gt", "$gte", "$lt", "$lte")
_OPERATORS = ("$eq", "$ne", *_COMPARISONS, "$in", "$nin", "$contains", "$not_contains")
_SCALARS = (str, int, float, bool)


def _kind(value: Any) -> str:
    """Chroma compares numbers with numbers (int or float) and never a bool with a number."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "str" if isinstance(value, str) else type(value).__name__


def _equal(stored: Any, wanted: Any) -> bool:
    return _kind(stored) == _kind(wanted) and stored == wanted


Matcher = Callable[[dict[str, Any]], bool]


def compile_where(where: Where) -> Matcher:
    """A predicate over metadata for a Chroma-style filter, refusing what Chroma refuses (ValueError)."""
    if not isinstance(where, dict) or len(where) != 1:
        raise ValueError(f"Expected where to have exactly one operator, got {where!r}")
    [(key, operand)] = where.items()
    if key in ("$and", "$or"):
        if not isinstance(operand, list) or len(operand) < 2:
            raise ValueError(f"Expected where value for $and or $or to be a list with at least two where "
                             f"expressions, got {operand!r}")
        parts = [compile_where(part) for part in operand]
        if key == "$and":
            return lambda meta: all(part(meta) for part in parts)
        return lambda meta: any(part(meta) for part in parts)
    if not isinstance(key, str) or key.startswith("$"):
        raise ValueError(f"Expected where key to be a metadata field, $and or $or, got {key!r}")
    if isinstance(operand, dict):
        if len(operand) != 1:
            raise ValueError(f"Expected operator expression to have exactly one operator, got {operand!r}")
        [(op, value)] = operand.items()
    else:
        op, value = "$eq", operand
    return _field_matcher(key, op, value)


def _field_matcher(key: str, op: str, value: Any) -> Matcher:
    if op not in _OPERATORS:
        raise ValueError(f"Expected where operator to be one of {', '.join(_OPERATORS)}, got {op}")
    if op in ("$in", "$nin"):
        if not isinstance(value, list) or not value or len({_kind(v) for v in value}) != 1 or not isinstance(
                value[0], _SCALARS):
            raise ValueError(f"Expected where operand value to be a non-empty list, and all values to be of the "
                             f"same type got {value!r}")
        if op == "$in":
            return lambda meta: key in meta and any(_equal(meta[key], v) for v in value)
        return lambda meta: key not in meta or not any(_equal(meta[key], v) for v in value)
    if op in _COMPARISONS:
        if _kind(value) != "number":
            raise ValueError(f"Expected operand value to be an int or a float for operator {op}, got {value!r}")
        compare = {"$gt": float.__gt__, "$gte": float.__ge__, "$lt": float.__lt__, "$lte": float.__le__}[op]
        return lambda meta: _kind(meta.get(key)) == "number" and compare(float(meta[key]), float(value))
    if not isinstance(value, _SCALARS):  # ValueError, not TypeError: what Chroma raises
        raise ValueError(f"Expected where value to be a str, int, float or bool, got {value!r}")  # noqa: TRY004
    if op == "$eq":
        return lambda meta: key in meta and _equal(meta[key], value)
    if op == "$ne":  # like Chroma: a chunk without the field matches too
        return lambda meta: key not in meta or not _equal(meta[key], value)
    if op == "$contains":
        return lambda meta: isinstance(meta.get(key), list) and any(_equal(v, value) for v in meta[key])
    return lambda meta: not (isinstance(meta.get(key), list) and any(_equal(v, value) for v in meta[key]))


def _checked_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    for key, value in meta.items():
        if not isinstance(key, str):
            raise ValueError(f"Expected metadata key to be a str, got {key!r}")  # noqa: TRY004
        if value is None or isinstance(value, _SCALARS):
            continue
        if isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value) and len(
                {_kind(v) for v in value}) <= 1:
            continue
        raise ValueError(f"Expected metadata value to be a str, int, float, bool, list or None, got {value!r} "
                         f"which is a {type(value).__name__}")
    return meta


# --- store ------------------------------------------------------------------------------------------------


@dataclass
class _Record:
    text: str
    metadata: dict[str, Any]
    vector: np.ndarray  # float32, as given


class _Collection:
    def __init__(self, name: str, created_at: float) -> None:
        self.name = name
        self.created_at = created_at
        self.records: dict[str, _Record] = {}  # insertion order, like Chroma's `get`
        self.dimension: int | None = None  # fixed by the first write, like Chroma


def _passage(chunk_id: str, record: _Record, score: float) -> Passage:
    meta = record.metadata
    page = meta.get("page")
    return Passage(
        id=chunk_id,
        text=record.text,
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        section=str(meta.get("section", "")),
        score=score,
        page=int(page) if page is not None else None,
    )


def _unique(ids: Sequence[str]) -> set[str]:
    """Chroma refuses an id twice in one call."""
    duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
    if duplicates:
        raise ValueError(f"Expected IDs to be unique, found duplicates of: {', '.join(duplicates)}")
    return set(ids)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


class MemoryStore:
    """One in-memory collection (a `VectorStore`). Thread-safe; a handle to a dropped collection fails."""

    def __init__(self, backend: MemoryBackend, collection: _Collection) -> None:
        self._backend = backend
        self._collection = collection

    @property
    def name(self) -> str:
        return self._collection.name

    def _records(self) -> dict[str, _Record]:
        if self._backend._registry.collections.get(self._collection.name) is not self._collection:
            raise KnowledgeUnavailable(f"collection {self._collection.name!r} does not exist (it was dropped)")
        return self._collection.records

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray, extra: dict[str, str | int]) -> None:
        if len(chunks) != len(embeddings):
            raise ValueError(f"{len(chunks)} chunks but {len(embeddings)} embeddings")
        if not chunks:
            return
        _unique([c.id for c in chunks])
        vectors = np.asarray(embeddings, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"expected a 2-d array of embeddings, got shape {vectors.shape}")
        with self._backend._registry.lock:
            records = self._records()
            expected = self._collection.dimension
            if expected is not None and vectors.shape[1] != expected:
                raise ValueError(f"Collection expecting embedding with dimension of {expected}, got {vectors.shape[1]}")
            metadatas = [_checked_metadata(c.metadata() | extra) for c in chunks]
            self._collection.dimension = vectors.shape[1]
            for chunk, vector, meta in zip(chunks, vectors, metadatas, strict=True):
                old = records.get(chunk.id)
                # Like Chroma, an upsert over an existing id merges metadata; a None value removes a key.
                merged = (dict(old.metadata) if old else {}) | meta
                records[chunk.id] = _Record(chunk.text, {k: v for k, v in merged.items() if v is not None},
                                            vector.copy())

    def query(self, embedding: np.ndarray, k: int, where: Where | None = None) -> list[Hit]:
        matches = compile_where(where) if where else None
        with self._backend._registry.lock:
            records = self._records()
            if not records:
                return []
            if k < 1:
                raise ValueError(f"Number of requested results {k}, cannot be negative, or zero.")
            query = _unit(np.asarray(embedding, dtype=np.float32).reshape(-1))
            if query.shape[0] != self._collection.dimension:
                raise ValueError(f"Collection expecting embedding with dimension of {self._collection.dimension}, "
                                 f"got {query.shape[0]}")
            rows = [(i, r) for i, r in records.items() if matches is None or matches(r.metadata)]
        if not rows:
            return []
        scores = _unit(np.stack([r.vector for _i, r in rows])) @ query
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(_passage(rows[n][0], rows[n][1], float(scores[n])), rows[n][1].vector.copy()) for n in order]

    def nearest_many(self, embeddings: np.ndarray, k: int, where: Where | None = None) -> list[list[tuple[str, float]]]:
        return [[(h.passage.id, h.passage.score) for h in self.query(embedding, k, where)] for embedding in embeddings]

    def get(self, ids: Sequence[str]) -> list[Hit]:
        if not ids:
            return []
        wanted = _unique(ids)
        with self._backend._registry.lock:
            found = [(i, r) for i, r in self._records().items() if i in wanted]
        return [Hit(_passage(i, r, 0.0), r.vector.copy()) for i, r in found]

    def texts(self) -> list[tuple[str, str, dict[str, Any]]]:
        with self._backend._registry.lock:
            return [(i, r.text, dict(r.metadata)) for i, r in self._records().items()]

    def delete(self, where: Where) -> None:
        matches = compile_where(where)
        with self._backend._registry.lock:
            records = self._records()
            for chunk_id in [i for i, r in records.items() if matches(r.metadata)]:
                del records[chunk_id]

    def count(self) -> int:
        with self._backend._registry.lock:
            return len(self._records())


# --- backend ----------------------------------------------------------------------------------------------

# Chroma's rule: 3-512 characters from [a-zA-Z0-9._-], starting and ending with a letter or digit.
_VALID_NAME = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9._-]{1,510})[a-zA-Z0-9]")


def _name_problem(name: str) -> str:
    if not _VALID_NAME.fullmatch(name):
        return "a name containing 3-512 characters from [a-zA-Z0-9._-], starting and ending with a letter or digit"
    if ".." in name:
        return "a name without two consecutive periods"
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return ""
    return "a name that is not an IP address"


class _Registry:
    def __init__(self) -> None:
        self.collections: dict[str, _Collection] = {}
        self.lock = threading.RLock()


class MemoryBackend:
    """A `StoreBackend` whose collections live in this process. `connect()` is another client on the same data.

    `clock` gives collection creation times (epoch seconds); it defaults to `time.time`.
    """

    def __init__(self, clock: Callable[[], float] | None = None, *, _registry: _Registry | None = None) -> None:
        self._clock = clock
        self._registry = _registry or _Registry()

    def connect(self) -> MemoryBackend:
        return MemoryBackend(self._clock, _registry=self._registry)

    def _now(self) -> float:
        return float(self._clock() if self._clock else time.time())

    def open(self, name: str, create: bool = True) -> MemoryStore | None:
        with self._registry.lock:
            collection = self._registry.collections.get(name)
            if collection is None:
                if not create:
                    return None
                problem = _name_problem(name)
                if problem:
                    raise KnowledgeUnavailable(f"cannot open collection {name!r}: expected {problem}")
                collection = self._registry.collections[name] = _Collection(name, self._now())
        return MemoryStore(self, collection)

    def drop(self, name: str) -> None:
        with self._registry.lock:
            self._registry.collections.pop(name, None)

    def names(self, prefix: str) -> dict[str, float]:
        with self._registry.lock:
            return {n: c.created_at for n, c in self._registry.collections.items() if n.startswith(prefix)}
