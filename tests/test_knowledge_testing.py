"""The test doubles in `knowledge.testing`: the fake embedder, and where the memory store mirrors Chroma beyond
the shared contract (tests/test_vectorstore_contract.py runs that contract on the memory store too)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from knowledge.chroma_store import ChromaBackend
from knowledge.errors import KnowledgeUnavailable
from knowledge.testing import FakeEmbedder, MemoryBackend
from knowledge.types import Chunk
from knowledge.vectorstore import StoreBackend
from tests.conftest import ROOT

TEXTS = ["return an item", "return two items please", "weather in Paris"]


# --- FakeEmbedder ------------------------------------------------------------------------------------------


def test_fake_embedder_has_the_embedders_shape():
    embedder = FakeEmbedder()
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (3, 384) == (len(TEXTS), embedder.dimension)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)
    assert embedder.batch_size == 64 and embedder.model_path
    assert FakeEmbedder(dimension=16).embed(["x"]).shape == (1, 16)


def test_fake_embedder_is_deterministic_and_batch_independent():
    embedder = FakeEmbedder()
    batch = embedder.embed(TEXTS)
    one_by_one = np.stack([embedder.embed([t])[0] for t in TEXTS])
    np.testing.assert_array_equal(batch, one_by_one)
    np.testing.assert_array_equal(batch, FakeEmbedder().embed(TEXTS))
    assert embedder.calls == [3, 1, 1, 1]


def test_fake_embedder_gives_the_same_vectors_in_another_process():
    """Hashing with blake2b, not hash(), which Python salts per process."""
    script = "import json, sys; from knowledge.testing import FakeEmbedder; " \
             "print(json.dumps(FakeEmbedder().embed(json.loads(sys.argv[1])).tolist()))"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", script, json.dumps(TEXTS)], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=120).stdout
    np.testing.assert_array_equal(np.asarray(json.loads(out), dtype=np.float32), FakeEmbedder().embed(TEXTS))


def test_fake_embedder_puts_texts_sharing_words_closer():
    a, b, c = FakeEmbedder().embed(TEXTS)
    assert a @ b > a @ c + 0.2
    assert a @ a == pytest.approx(1.0, abs=1e-5)
    returns, returned, unrelated = FakeEmbedder().embed(["returns", "returned", "parcel"])
    assert returns @ returned > returns @ unrelated, "words sharing a stem share character trigrams"


def test_fake_embedder_embeds_a_text_without_words():
    vectors = FakeEmbedder().embed(["", "  ?! "])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)


# --- where the memory store mirrors Chroma beyond the contract ---------------------------------------------------

CHUNKS = [Chunk("a", "Returns within 30 days.", "returns.md", "Returns", page=2),
          Chunk("b", "Gift cards never expire.", "gift-cards.md", "Gift cards")]


@pytest.fixture(params=["chroma", "memory"])
def backend(request, tmp_path: Path) -> StoreBackend:
    if request.param == "chroma":
        return ChromaBackend(FakeEmbedder(), path=str(tmp_path / "chroma"))
    return MemoryBackend()


@pytest.fixture
def vectors() -> np.ndarray:
    return FakeEmbedder().embed([c.text for c in CHUNKS])


def test_an_id_twice_in_one_write_is_refused(backend, vectors):
    store = backend.open("mirror-dup")
    with pytest.raises(Exception, match="unique"):
        store.upsert([CHUNKS[0], CHUNKS[0]], vectors, {})
    assert store.count() == 0


def test_a_second_vector_size_is_refused(backend, vectors):
    store = backend.open("mirror-dim")
    store.upsert(CHUNKS[:1], vectors[:1], {})
    with pytest.raises(Exception, match="dimension"):
        store.upsert(CHUNKS[1:], FakeEmbedder(dimension=8).embed([CHUNKS[1].text]), {})
    with pytest.raises(Exception, match="dimension"):
        store.query(np.ones(8, dtype=np.float32), k=1)


def test_rewriting_an_id_merges_its_metadata_as_chroma_does(backend, vectors):
    """Chroma keeps metadata keys the new version lacks (here `page` and `kind`); chunk ids carry the content
    hash, so the ingestor never rewrites an id with other metadata."""
    store = backend.open("mirror-merge")
    store.upsert(CHUNKS[:1], vectors[:1], {"doc_hash": "v1", "kind": "markdown"})
    store.upsert([Chunk("a", "Returns within 60 days.", "returns.md", "Returns")], vectors[:1], {"doc_hash": "v2"})
    [(_id, text, meta)] = store.texts()
    assert text == "Returns within 60 days."
    assert meta["doc_hash"] == "v2" and meta["kind"] == "markdown" and meta["page"] == 2


def test_a_handle_on_a_dropped_collection_fails(backend, vectors):
    store = backend.open("mirror-drop")
    store.upsert(CHUNKS, vectors, {})
    backend.drop("mirror-drop")
    with pytest.raises(Exception):  # noqa: B017 - Chroma's NotFoundError; KnowledgeUnavailable here
        store.count()
    backend.open("mirror-drop")  # a new collection of the same name is another collection
    with pytest.raises(Exception):  # noqa: B017
        store.count()
    assert backend.open("mirror-drop").count() == 0


@pytest.mark.parametrize("name", ["ab", "-abc", "has space", "a..b", "127.0.0.1", "x" * 513])
def test_invalid_collection_names_are_refused(backend, name):
    with pytest.raises(KnowledgeUnavailable):
        backend.open(name)
    assert backend.open(name, create=False) is None


def test_memory_backends_made_by_connect_share_collections_and_the_clock(vectors):
    times = iter([100.0, 200.0])
    first = MemoryBackend(clock=lambda: next(times))
    first.open("shared-one").upsert(CHUNKS, vectors, {})
    other = first.connect()
    assert other.open("shared-one", create=False).count() == 2
    other.open("shared-two")
    assert first.names("shared-") == {"shared-one": 100.0, "shared-two": 200.0}
    assert MemoryBackend().names("shared-") == {}, "a new MemoryBackend starts empty"
