"""The `VectorStore` / `StoreBackend` contract, run unchanged against every backend: collections (handles,
clients, isolation, names, drop, embedding function) and the knowledge base end to end.

The backends ("embedded", "server", "memory") and the shared fixtures are in tests/vectorstore_fixtures.py;
query, filters and get / texts / count / delete are in tests/test_vectorstore_contract.py.
Every test works in its own uuid-named collections, dropped afterwards, so tests never share data.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from knowledge.types import Chunk
from tests.conftest import DOCS
from tests.vectorstore_fixtures import (  # noqa: F401  (backend, chroma_server, ... are fixtures)
    BY_ID,
    CHUNKS,
    backend,
    chroma_server,
    filled,
    fresh_name,
    move_clock_forward,
    question,
    store,
    target,
    vector_of,
    vectors,
)

# --- collections ------------------------------------------------------------------------------------------


def test_a_collection_persists_across_handles_and_clients(target, backend, fresh_name, vectors, question,
                                                          embedder) -> None:
    name = fresh_name()
    first = filled(backend.open(name), vectors)
    second = backend.open(name)
    assert second.count() == len(CHUNKS)
    assert [h.passage.id for h in second.query(question, k=2)] == [h.passage.id for h in first.query(question, k=2)]

    extra = Chunk("extra-1", "Our stores open at nine.", "stores.md", "Stores")
    second.upsert([extra], embedder.embed([extra.text]), {"doc_hash": "v1", "chunk_count": 1})
    assert first.count() == len(CHUNKS) + 1  # writes through one handle are seen through the other

    # A brand-new client on the same path (embedded) or server sees the same collection and data.
    other = target.connect().open(name)
    assert other.count() == len(CHUNKS) + 1, target.context()
    assert sorted(i for i, _t, _m in other.texts()) == sorted([*BY_ID, "extra-1"])
    [hit] = other.get(["ship-1"])
    assert (hit.passage.text, hit.passage.page) == (BY_ID["ship-1"].text, 2)
    np.testing.assert_allclose(hit.vector, vector_of("ship-1", vectors), atol=1e-5)
    assert other.query(question, k=1)[0].passage.id == "ret-1"


def test_collections_are_isolated(backend, fresh_name, vectors, question, embedder) -> None:
    """Like two conversations' uploads: neither ever sees the other's chunks, even with equal ids."""
    mine = backend.open(fresh_name("contract-conv-"))
    theirs = backend.open(fresh_name("contract-conv-"))
    mine.upsert(CHUNKS[:2], vectors[:2], {"conversation": "mine"})
    theirs.upsert(CHUNKS[2:], vectors[2:], {"conversation": "theirs"})
    shared = Chunk("shared", "A file both conversations uploaded, with different text.", "upload.txt", "Upload")
    mine.upsert([shared], embedder.embed(["mine"]), {"conversation": "mine"})
    theirs.upsert([shared], embedder.embed(["theirs"]), {"conversation": "theirs"})

    assert sorted(i for i, _t, _m in mine.texts()) == ["ret-1", "shared", "ship-1"]
    assert sorted(i for i, _t, _m in theirs.texts()) == ["gift-1", "pw-1", "shared"]
    assert {m["conversation"] for _i, _t, m in mine.texts()} == {"mine"}
    assert {m["conversation"] for _i, _t, m in theirs.texts()} == {"theirs"}
    assert {h.passage.id for h in mine.query(question, k=10)} == {"ret-1", "ship-1", "shared"}
    assert {h.passage.id for h in theirs.query(question, k=10)} == {"gift-1", "pw-1", "shared"}
    assert mine.get(["gift-1", "pw-1"]) == []
    np.testing.assert_allclose(mine.get(["shared"])[0].vector, embedder.embed(["mine"])[0], atol=1e-5)
    np.testing.assert_allclose(theirs.get(["shared"])[0].vector, embedder.embed(["theirs"])[0], atol=1e-5)

    mine.delete({"source": "upload.txt"})
    assert theirs.get(["shared"]) != [] and theirs.count() == 3
    assert mine.count() == 2


def test_names_lists_collections_by_prefix_with_creation_time(target, backend, fresh_name, monkeypatch) -> None:
    prefix = f"contract-{uuid.uuid4().hex[:8]}-"
    before = time.time()
    a, b = fresh_name(prefix), fresh_name(prefix)
    unrelated = fresh_name()
    for name in (a, b, unrelated):
        backend.open(name)
    after = time.time()

    found = backend.names(prefix)
    assert set(found) == {a, b}, f"{found}{target.context()}"
    for name, created in found.items():
        assert isinstance(created, float) and created > 0, (name, created)
        assert before - 1 <= created <= after + 1, (name, created, before, after)
    assert set(backend.names("contract-")) >= {a, b, unrelated}
    assert backend.names(f"{prefix}no-such-") == {}

    move_clock_forward(monkeypatch, 3600)  # a reset creation time would now be an hour late
    backend.open(a)  # reopening must not reset the creation time (it drives expiry of old uploads)
    assert target.connect().names(prefix) == found


def test_drop_removes_a_collection_and_tolerates_a_missing_one(target, backend, fresh_name, vectors) -> None:
    prefix = f"contract-{uuid.uuid4().hex[:8]}-"
    a, b = fresh_name(prefix), fresh_name(prefix)
    filled(backend.open(a), vectors)
    filled(backend.open(b), vectors)

    backend.drop(a)
    assert set(backend.names(prefix)) == {b}, target.context()
    assert backend.open(b).count() == len(CHUNKS)
    backend.drop(a)  # already gone: no error
    backend.drop(f"contract-never-made-{uuid.uuid4().hex}")
    assert backend.open(a).count() == 0  # opening again starts empty (and fresh_name drops it again)


def test_collections_never_use_chromas_default_embedding_function(target, store, embedder, fresh_name,
                                                                 backend) -> None:
    """Chroma's default function downloads a model; ours is registered as "support-agent-minilm"."""
    if target.kind == "memory":
        pytest.skip("Chroma's own collection configuration: the memory store never embeds text itself")
    config = store._collection.configuration_json
    assert config["embedding_function"]["type"] == "known", config
    assert config["embedding_function"]["name"] == "support-agent-minilm", config
    assert config["hnsw"]["space"] == "cosine", config  # what makes 1 - distance a cosine similarity

    # Adding by document text alone embeds with our (offline) function, not Chroma's default one.
    text = "Exchanges are free within 30 days."
    store._collection.add(ids=["by-text"], documents=[text], metadatas=[{"source": "exchanges.md"}])
    [hit] = store.get(["by-text"])
    np.testing.assert_allclose(hit.vector, embedder.embed([text])[0], atol=1e-4)

    # A new client reopening the collection finds the same function from the stored configuration.
    name = fresh_name()
    backend.open(name)
    reopened = target.connect().open(name)._collection
    assert reopened.configuration_json["embedding_function"]["name"] == "support-agent-minilm", target.context()


# --- end to end -------------------------------------------------------------------------------------------


def test_knowledge_base_end_to_end(target, backend, fresh_name, embedder, tmp_path: Path) -> None:
    from agent.factory import knowledge_base
    from agent.settings import Settings

    folder = tmp_path / "docs"
    folder.mkdir()
    names = ["returns.md", "refunds.md", "shipping-options.md"]
    for doc in names:
        shutil.copy(DOCS / doc, folder / doc)

    name = fresh_name("contract-kb-")
    kb = knowledge_base(Settings().knowledge, backend.open(name), embedder)
    report = kb.ingest([folder])
    assert sorted((r.source, r.status) for r in report.results) == sorted((n, "added") for n in names), (
        f"{report.results}{target.context()}")
    assert kb.store.count() == report.chunks_written > 0

    passages = kb.search("How long do I have to return an item?")
    returns = [p for p in passages if p.source == "returns.md"]
    assert returns, f"no returns.md passage in {[(p.source, p.score) for p in passages]}{target.context()}"
    assert max(p.score for p in returns) >= 0.4, [(p.source, round(p.score, 3)) for p in passages]

    again = kb.ingest([folder])
    assert [r.status for r in again.results] == ["unchanged"] * len(names), again.results
    assert again.chunks_written == 0 and kb.store.count() == report.chunks_written

    # Another instance (a new client on the same path or server) finds the same sources already ingested.
    other = knowledge_base(Settings().knowledge, target.connect().open(name), embedder)
    assert [r.status for r in other.ingest([folder]).results] == ["unchanged"] * len(names)
