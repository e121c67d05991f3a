"""The `VectorStore` / `StoreBackend` contract, run unchanged against every backend: query, filters, and
get / texts / count / delete.

The backends ("embedded", "server", "memory") and the shared fixtures are in tests/vectorstore_fixtures.py;
collections and the knowledge base end to end are in tests/test_vectorstore_contract_collections.py.
Every test works in its own uuid-named collections, dropped afterwards, so tests never share data.
"""

from __future__ import annotations

import numpy as np
import pytest

from knowledge.types import Chunk
from tests.vectorstore_fixtures import (  # noqa: F401  (backend, chroma_server, ... are fixtures)
    BY_ID,
    CHUNKS,
    EXTRA,
    backend,
    chroma_server,
    filled,
    fresh_name,
    question,
    store,
    target,
    vector_of,
    vectors,
)

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


def test_nearest_many_answers_each_row_as_query_does(target, store, vectors, question) -> None:
    filled(store, vectors)
    rows = np.stack([question, vector_of("ship-1", vectors), -question])
    many = store.nearest_many(rows, k=3)
    alone = [store.query(row, k=3) for row in rows]
    assert [[i for i, _ in found] for found in many] == [[h.passage.id for h in hits] for hits in alone], (
        target.context())
    for got, expected in zip(many, alone, strict=True):
        assert [score for _, score in got] == pytest.approx([h.passage.score for h in expected], abs=1e-6)
    assert store.nearest_many(rows, k=2, where={"source": "no-such-file.md"}) == [[], [], []]


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
