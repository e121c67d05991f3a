"""Shared data, backends and fixtures for the `VectorStore` / `StoreBackend` contract
(tests/test_vectorstore_contract.py and tests/test_vectorstore_contract_collections.py), run unchanged
against every backend.

"embedded" is `ChromaBackend(path=...)` (chromadb.PersistentClient) in the test's tmp folder; "server" is
`ChromaBackend(url=...)` (chromadb.HttpClient) against a real `chroma run` started once per session
(see tests/chroma_server.py); "memory" is the test double `knowledge.testing.MemoryBackend`, held to the
same contract so tests that use it can trust it. Embeddings are real all-MiniLM vectors from the session
`embedder`.
Every test works in its own uuid-named collections, dropped afterwards, so tests never share data.

The test modules import the fixtures by name, `chroma_server` included (`target` asks for it by name).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import knowledge.chroma_store
import knowledge.testing
from knowledge.chroma_store import ChromaBackend
from knowledge.testing import MemoryBackend
from knowledge.types import Chunk
from knowledge.vectorstore import StoreBackend, VectorStore
from tests.chroma_server import ChromaServer, chroma_server  # noqa: F401  (fixture, re-exported)

CHUNKS = [
    Chunk("ret-1", "You can return most items within 30 days of delivery for a full refund.",
          "returns.md", "Returns", "Return window"),
    Chunk("ship-1", "Standard shipping takes 3 to 5 business days; express delivery arrives the next business day.",
          "shipping.md", "Shipping options", "Delivery times", page=2),
    Chunk("gift-1", "Gift cards never expire and can be used on any order in the online store.",
          "gift-cards.md", "Gift cards"),
    Chunk("pw-1", "To reset your password, click 'Forgot password' on the sign-in page and follow the email link.",
          "account.md", "Account and security", "Passwords", page=7),
]
BY_ID = {c.id: c for c in CHUNKS}
EXTRA: dict[str, str | int] = {"doc_hash": "v1", "chunk_count": len(CHUNKS), "root": "/docs", "kind": "markdown"}
QUESTION = "How many days do I have to send an item back?"  # closest to ret-1


# --- backends ---------------------------------------------------------------------------------------------


@dataclass
class Target:
    """How to reach one backend: `connect()` builds a NEW backend (client) on the same path, server or memory."""

    kind: str
    connect: Callable[[], StoreBackend]
    server: ChromaServer | None = None

    def context(self) -> str:
        """Extra text for assertion messages: the server's log tail, when there is a server."""
        return f"\n[{self.kind} backend]\n{self.server.log_tail()}" if self.server else f"\n[{self.kind} backend]"


@pytest.fixture(params=["embedded", "server", "memory"])
def target(request: pytest.FixtureRequest, embedder, tmp_path: Path) -> Target:
    if request.param == "embedded":
        path = str(tmp_path / "chroma")
        return Target("embedded", lambda: ChromaBackend(embedder, path=path))
    if request.param == "memory":
        return Target("memory", MemoryBackend().connect)  # every connect() shares the first one's collections
    server: ChromaServer = request.getfixturevalue("chroma_server")  # started only if a server test runs
    return Target("server", lambda: ChromaBackend(embedder, url=server.url), server)


@pytest.fixture
def backend(target: Target) -> Iterator[StoreBackend]:
    yield target.connect()
    if target.server is not None:
        assert target.server.process.poll() is None, f"the Chroma server died during the test{target.context()}"


@pytest.fixture
def fresh_name(backend: StoreBackend) -> Iterator[Callable[..., str]]:
    """Makes unique, valid collection names ([a-zA-Z0-9._-], 3-512 chars) and drops them all afterwards."""
    made: list[str] = []

    def make(prefix: str = "contract-") -> str:
        name = f"{prefix}{uuid.uuid4().hex}"
        made.append(name)
        return name

    yield make
    for name in made:
        backend.drop(name)


@pytest.fixture
def store(backend: StoreBackend, fresh_name) -> VectorStore:
    return backend.open(fresh_name())


@pytest.fixture(scope="module")
def vectors(embedder) -> np.ndarray:
    return embedder.embed([c.text for c in CHUNKS])


@pytest.fixture(scope="module")
def question(embedder) -> np.ndarray:
    return embedder.embed([QUESTION])[0]


def vector_of(chunk_id: str, vectors: np.ndarray) -> np.ndarray:
    return vectors[[c.id for c in CHUNKS].index(chunk_id)]


def move_clock_forward(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """The adapters' wall clock (creation times) runs `seconds` ahead from now on: no sleeping for time to pass."""
    ahead = SimpleNamespace(time=lambda: time.time() + seconds)
    for module in (knowledge.chroma_store, knowledge.testing):
        monkeypatch.setattr(module, "time", ahead)


def filled(store: VectorStore, vectors: np.ndarray) -> VectorStore:
    store.upsert(CHUNKS, vectors, EXTRA)
    return store
