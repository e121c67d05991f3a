"""The `VectorStore` / `StoreBackend` contract, run unchanged against every backend.

"embedded" is `ChromaBackend(path=...)` (chromadb.PersistentClient) in the test's tmp folder; "server" is
`ChromaBackend(url=...)` (chromadb.HttpClient) against a real `chroma run` started once per session
(see tests/chroma_server.py); "memory" is the test double `knowledge.testing.MemoryBackend`, held to the
same contract so tests that use it can trust it. Embeddings are real all-MiniLM vectors from the session
`embedder`.
Every test works in its own uuid-named collections, dropped afterwards, so tests never share data.
"""

from __future__ import annotations

import shutil
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
from tests.chroma_server import ChromaServer, chroma_server  # noqa: F401  (fixture)
from tests.conftest import DOCS

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


# --- query ------------------------------------------------------------------------------------------------


def test_query_returns_nearest_first_scored_by_cosine_similarity(target, store, vectors, question) -> None:
    filled(store, vectors)
    hits = store.query(question, k=len(CHUNKS))

    ids = [h.passage.id for h in hits]
    assert sorted(ids) == sorted(BY_ID), f"{ids}{target.context()}"
    assert ids[0] == "ret-1", f"nearest should be the returns chunk, got {ids}{target.context()}"
    expected = {c.id: float(vector_of(c.id, vectors) @ question) for c in CHUNKS}
    assert ids == sorted(expected, key=lambda i: -expected[i]), f"not best first: {ids} vs {expected}"
    for hit in hits:
        # The score is the cosine similarity (higher is closer), not Chroma's cosine distance.
        assert hit.passage.score == pytest.approx(expected[hit.passage.id], abs=1e-3), hit.passage
        assert hit.passage.score == pytest.approx(float(hit.vector @ question), abs=1e-3), hit.passage
    scores = [h.passage.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert -1.0 - 1e-3 <= scores[-1] <= scores[0] <= 1.0 + 1e-3

    top2 = store.query(question, k=2)
    assert [h.passage.id for h in top2] == ids[:2]

    more = store.query(question, k=50)  # asking for more than the collection holds returns what there is
    assert [h.passage.id for h in more] == ids

    exact = store.query(vector_of("ship-1", vectors), k=1)
    assert [h.passage.id for h in exact] == ["ship-1"]
    assert exact[0].passage.score == pytest.approx(1.0, abs=1e-3)


def test_hits_carry_the_stored_normalised_embedding(store, vectors, question) -> None:
    filled(store, vectors)
    for hit in store.query(question, k=len(CHUNKS)):
        assert hit.vector.shape == (vectors.shape[1],)
        assert hit.vector.dtype == np.float32
        np.testing.assert_allclose(hit.vector, vector_of(hit.passage.id, vectors), atol=1e-5)
        assert float(np.linalg.norm(hit.vector)) == pytest.approx(1.0, abs=1e-3)


def test_metadata_round_trips(store, vectors, question) -> None:
    filled(store, vectors)
    for hit in store.query(question, k=len(CHUNKS)) + store.get(list(BY_ID)):
        chunk = BY_ID[hit.passage.id]
        p = hit.passage
        assert (p.text, p.source, p.title, p.section, p.page) == (
            chunk.text, chunk.source, chunk.title, chunk.section, chunk.page), p
    assert store.get(["ship-1"])[0].passage.page == 2
    assert store.get(["ret-1"])[0].passage.page is None

    rows = {chunk_id: (text, meta) for chunk_id, text, meta in store.texts()}
    for chunk in CHUNKS:
        text, meta = rows[chunk.id]
        assert text == chunk.text
        assert {k: meta[k] for k in ("source", "title", "section")} == {
            "source": chunk.source, "title": chunk.title, "section": chunk.section}
        assert meta.get("page") == chunk.page
        assert ("page" in meta) == (chunk.page is not None)
        for key, value in EXTRA.items():  # `extra` lands on every chunk, with its type kept
            assert meta[key] == value and type(meta[key]) is type(value), (key, meta)


def test_upsert_with_the_same_id_replaces(store, vectors, embedder) -> None:
    filled(store, vectors)
    new = Chunk("ret-1", "Returns are accepted for 60 days when you are a loyalty member.", "returns.md",
                "Returns", "Loyalty returns", page=3)
    new_vector = embedder.embed([new.text])
    store.upsert([new], new_vector, {"doc_hash": "v2", "chunk_count": 1})

    assert store.count() == len(CHUNKS)
    [hit] = store.get(["ret-1"])
    assert (hit.passage.text, hit.passage.section, hit.passage.page) == (new.text, "Loyalty returns", 3)
    np.testing.assert_allclose(hit.vector, new_vector[0], atol=1e-5)
    top = store.query(new_vector[0], k=1)[0]
    assert (top.passage.id, top.passage.text) == ("ret-1", new.text)
    assert top.passage.score == pytest.approx(1.0, abs=1e-3)
    texts = [(i, t, m) for i, t, m in store.texts() if i == "ret-1"]
    assert len(texts) == 1 and texts[0][1] == new.text
    assert texts[0][2]["doc_hash"] == "v2" and texts[0][2]["chunk_count"] == 1


def test_upsert_of_nothing_is_a_no_op(store, vectors) -> None:
    store.upsert([], vectors[:0], EXTRA)
    assert store.count() == 0


def test_upsert_of_more_chunks_than_one_chroma_batch(store) -> None:
    n = 5500
    rng = np.random.default_rng(0)
    many = rng.normal(size=(n, 384)).astype(np.float32)
    many /= np.linalg.norm(many, axis=1, keepdims=True)
    store.upsert([Chunk(f"bulk-{i}", f"bulk text {i}", "big.txt", "Big") for i in range(n)], many, {"chunk_count": n})
    assert store.count() == n
    assert store.query(many[4321], k=1)[0].passage.id == "bulk-4321"


# --- filters ----------------------------------------------------------------------------------------------


def test_query_with_a_where_filter(target, store, vectors, question) -> None:
    filled(store, vectors)
    hits = store.query(question, k=len(CHUNKS), where={"source": "shipping.md"})
    assert [h.passage.id for h in hits] == ["ship-1"], target.context()
    assert hits[0].passage.score == pytest.approx(float(vector_of("ship-1", vectors) @ question), abs=1e-3)
    assert store.query(question, k=3, where={"source": "no-such-file.md"}) == []


def test_query_with_an_and_filter(target, store, vectors, question) -> None:
    store.upsert(CHUNKS[:2], vectors[:2], {"doc_hash": "a", "chunk_count": 2})
    store.upsert(CHUNKS[2:], vectors[2:], {"doc_hash": "b", "chunk_count": 2})

    both = {"$and": [{"source": "returns.md"}, {"doc_hash": "a"}]}
    assert [h.passage.id for h in store.query(question, k=4, where=both)] == ["ret-1"], target.context()
    assert store.query(question, k=4, where={"$and": [{"source": "returns.md"}, {"doc_hash": "b"}]}) == []

    in_b = store.query(question, k=4, where={"$and": [{"doc_hash": "b"}, {"chunk_count": 2}]})
    assert {h.passage.id for h in in_b} == {"gift-1", "pw-1"}
    not_a = store.query(question, k=4, where={"$and": [{"doc_hash": {"$ne": "a"}}, {"source": "account.md"}]})
    assert [h.passage.id for h in not_a] == ["pw-1"]


def test_filter_operators_and_types(target, store, vectors, question) -> None:
    """Chroma's filter language as the ingestor and the test double rely on it."""
    store.upsert(CHUNKS[:1], vectors[:1], {"doc_hash": "a", "chunk_count": 2, "flag": True})
    store.upsert(CHUNKS[1:2], vectors[1:2], {"chunk_count": 2.0})  # no doc_hash, no flag
    store.upsert(CHUNKS[2:], vectors[2:], {"doc_hash": "b", "chunk_count": 3})

    def ids(where) -> list[str]:
        return sorted(h.passage.id for h in store.query(question, k=10, where=where))

    assert ids({"doc_hash": {"$ne": "a"}}) == ["gift-1", "pw-1", "ship-1"], target.context()  # missing field: not equal
    assert ids({"doc_hash": {"$nin": ["a"]}}) == ["gift-1", "pw-1", "ship-1"]
    assert ids({"doc_hash": {"$in": ["a", "b"]}}) == ["gift-1", "pw-1", "ret-1"]
    assert ids({"chunk_count": 2}) == ["ret-1", "ship-1"]  # an int and a float compare as numbers
    assert ids({"chunk_count": {"$gt": 2}}) == ["gift-1", "pw-1"]
    assert ids({"chunk_count": {"$lte": 2.5}}) == ["ret-1", "ship-1"]
    assert ids({"flag": True}) == ["ret-1"]
    assert ids({"flag": 1}) == []  # a bool is not a number
    assert ids({"$or": [{"source": "returns.md"}, {"page": 7}]}) == ["pw-1", "ret-1"]
    assert ids({"$and": [{"$or": [{"doc_hash": "b"}, {"page": 2}]}, {"chunk_count": {"$gte": 3}}]}) == ["gift-1", "pw-1"]


@pytest.mark.parametrize("where", [
    {"source": "returns.md", "doc_hash": "v1"},  # two fields need an explicit $and (see knowledge.base.chroma_where)
    {"$and": [{"source": "returns.md"}]},  # $and / $or need at least two parts
    {"source": {"$like": "returns%"}},  # no such operator
    {"title": {"$gt": "R"}},  # ordering is for numbers only
    {"source": {"$in": []}},
])
def test_malformed_filters_are_refused(target, store, vectors, question, where) -> None:
    filled(store, vectors)
    with pytest.raises(Exception):  # noqa: B017 - each adapter raises its own error type
        store.query(question, k=2, where=where)
    with pytest.raises(Exception):  # noqa: B017
        store.delete(where)
    assert store.count() == len(CHUNKS), target.context()


# --- get, texts, count, delete -----------------------------------------------------------------------------


def test_get_returns_exactly_the_known_ids_with_vectors(store, vectors) -> None:
    filled(store, vectors)
    hits = store.get(["gift-1", "no-such-id", "ret-1"])
    assert sorted(h.passage.id for h in hits) == ["gift-1", "ret-1"]
    for hit in hits:
        assert hit.passage.score == 0.0
        assert hit.passage.text == BY_ID[hit.passage.id].text
        np.testing.assert_allclose(hit.vector, vector_of(hit.passage.id, vectors), atol=1e-5)
    assert store.get([]) == []
    assert store.get(["no-such-id"]) == []


def test_texts_lists_every_chunk_and_count_matches(store, vectors) -> None:
    assert store.texts() == [] and store.count() == 0
    filled(store, vectors)
    rows = store.texts()
    assert sorted((i, t) for i, t, _m in rows) == sorted((c.id, c.text) for c in CHUNKS)
    assert store.count() == len(CHUNKS)


def test_delete_removes_only_matching_chunks(store, vectors, question) -> None:
    filled(store, vectors)
    store.delete({"source": "returns.md"})
    assert store.count() == 3
    assert sorted(i for i, _t, _m in store.texts()) == ["gift-1", "pw-1", "ship-1"]
    assert "ret-1" not in {h.passage.id for h in store.query(question, k=4)}

    # The ingestor's "drop the old version" filter: nothing matches while the version is current.
    store.delete({"$and": [{"source": "shipping.md"}, {"doc_hash": {"$ne": "v1"}}]})
    assert store.count() == 3
    store.delete({"$and": [{"source": "shipping.md"}, {"doc_hash": {"$ne": "v2"}}]})
    assert sorted(i for i, _t, _m in store.texts()) == ["gift-1", "pw-1"]

    store.delete({"source": "no-such-file.md"})  # no match: no error, nothing removed
    assert store.count() == 2


def test_an_empty_collection_answers_queries_with_nothing(store, vectors, question) -> None:
    assert store.count() == 0
    assert store.query(question, k=4) == []
    assert store.query(question, k=4, where={"source": "returns.md"}) == []
    assert store.get(["ret-1"]) == []
    filled(store, vectors)
    for chunk in CHUNKS:
        store.delete({"source": chunk.source})
    assert store.count() == 0
    assert store.query(question, k=4) == []


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
