"""Concurrent embedding calls share forward passes (knowledge.passes), and the embedder runs a text once."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from knowledge.embedder import Embedder
from knowledge.passes import SharedPasses


class SlowModel:
    """Encodes a text as [len(text)], taking a while per pass, as a forward pass does; records each pass."""

    def __init__(self, pass_s: float = 0.05) -> None:
        self.pass_s = pass_s
        self.passes: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.passes.append(list(texts))
        time.sleep(self.pass_s)
        if "boom" in texts:
            raise RuntimeError("the model failed")
        return np.array([[float(len(t))] for t in texts], dtype=np.float32)


def run_at_once(passes: SharedPasses | _Calls, calls: list[list[str]]) -> list[np.ndarray | BaseException]:
    results: list[np.ndarray | BaseException] = [np.zeros(0)] * len(calls)
    start = threading.Barrier(len(calls))

    def one(i: int) -> None:
        start.wait()
        try:
            results[i] = passes.run(calls[i])
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


def test_calls_made_while_a_pass_runs_share_the_next_one():
    model = SlowModel()
    passes = SharedPasses(model, max_texts=64)
    calls = [[f"message {i}" + "!" * i] for i in range(20)]
    results = run_at_once(passes, calls)
    for call, result in zip(calls, results, strict=True):
        assert isinstance(result, np.ndarray)
        assert result.tolist() == [[float(len(call[0]))]]  # each caller gets its own rows back
    # The first caller runs alone; everyone who arrived meanwhile goes in the next pass or two.
    assert len(model.passes) <= 4, [len(p) for p in model.passes]
    assert sorted(t for p in model.passes for t in p) == sorted(c[0] for c in calls)


def test_a_pass_holds_at_most_max_texts_and_a_large_call_runs_in_slices():
    model = SlowModel()
    passes = SharedPasses(model, max_texts=4)
    results = run_at_once(passes, [["a", "b", "c"], ["d", "e"], list("fghijk")])
    assert all(isinstance(r, np.ndarray) for r in results)
    assert all(len(p) <= 4 for p in model.passes), model.passes
    assert results[2].shape == (6, 1)
    assert passes.run(["x" * n for n in range(1, 11)]).ravel().tolist() == [float(n) for n in range(1, 11)]


def test_a_message_waits_for_one_slice_of_a_long_call_not_all_of_it():
    """The help centre's sentences are embedded at start in one long call; a customer's message arriving
    meanwhile goes in the pass after the current slice."""
    model = SlowModel(pass_s=0.02)
    passes = SharedPasses(model, max_texts=8)
    long_call = threading.Thread(target=passes.run, args=([f"sentence {i}" for i in range(400)],))
    long_call.start()
    started = time.monotonic()
    while not model.passes:  # the long call is under way
        assert time.monotonic() - started < 30, "the long call never ran a pass"
        time.sleep(0.001)
    passes.run(["where is my order"])
    passes_before_the_message = next(i for i, p in enumerate(model.passes) if "where is my order" in p)
    long_call.join(timeout=30)
    assert passes_before_the_message <= 2, passes_before_the_message
    assert len(model.passes) == 51  # fifty slices of eight, and the message in a pass of its own


def test_a_failed_pass_fails_its_callers_and_the_next_pass_runs():
    model = SlowModel()
    passes = SharedPasses(model, max_texts=64)
    results = run_at_once(passes, [["boom"], ["fine"], ["also fine"]])
    failed = [r for r in results if isinstance(r, RuntimeError)]
    assert failed, "the caller whose pass failed must see the error"
    with pytest.raises(RuntimeError):
        passes.run(["boom"])
    assert passes.run(["after"]).tolist() == [[5.0]]  # the model is not left marked busy


def test_the_embedder_runs_a_text_through_the_model_once():
    embedder = Embedder()
    first = embedder.embed(["where is my order", "where is my order", "track my parcel"])
    assert embedder.embedded == 2
    again = embedder.embed(["track my parcel", "where is my order"])
    assert embedder.embedded == 2
    np.testing.assert_array_equal(again, first[[2, 0]])
    assert Embedder(cache_size=0).embed(["where is my order"]).shape == (1, embedder.dimension)


def test_loading_the_model_limits_numpys_blas_threads():
    """Idle OpenBLAS workers spin on the cores the event loop needs; the setting applies when the model loads."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    with threadpool_limits(2, user_api="blas"):  # as on a two-core machine, whatever earlier tests set
        assert blas_threads() == {2}
        embedder = Embedder(blas_threads=1)
        embedder.embed(["is my parcel late?"])
        assert blas_threads() == {1}


def test_a_text_another_call_is_embedding_is_waited_for_not_embedded_twice():
    # With an LLM, the facts' tagger starts beside the turn's search and both embed the same message.
    embedder = Embedder()
    embedder.embed(["warm the model"])
    model = SlowModel(pass_s=0.2)
    embedder._passes = SharedPasses(model, max_texts=64)  # a slow pass, so the second call finds it running
    results = run_at_once(_Calls(embedder.embed), [["where is my order"], ["where is my order", "and my refund"]])
    assert sum(p.count("where is my order") for p in model.passes) == 1, model.passes
    assert results[0].tolist() == [[17.0]] and results[1].tolist() == [[17.0], [13.0]]


class RecordingCollection:
    """A Chroma collection that answers each query vector with its own first value as the id, slowly."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def query(self, query_embeddings, n_results, where, include):  # noqa: ANN001 - Chroma's signature
        self.calls.append(len(query_embeddings))
        time.sleep(0.05)
        return {"ids": [[f"doc{int(v[0])}"] for v in query_embeddings],
                "distances": [[0.25] for _ in query_embeddings]}


def test_concurrent_searches_share_one_chroma_query():
    from knowledge.chroma_store import ChromaStore

    collection = RecordingCollection()
    store = ChromaStore(collection, query_batch=64)
    vectors = [np.array([[float(i), 0.0]]) for i in range(12)]
    results = run_at_once(_Calls(lambda call: store.nearest_many(call[0], 1)), [[v] for v in vectors])
    assert [r for r in results] == [[[(f"doc{i}", 0.75)]] for i in range(12)]  # each search gets its own rows
    assert len(collection.calls) < len(vectors), collection.calls  # searches arriving during a call share the next
    before = len(collection.calls)
    assert store.nearest_many(np.array([[5.0, 0.0]]), 1, where={"source": "a.md"}) == [[("doc5", 0.75)]]
    assert collection.calls[before:] == [1]  # a filtered search (one conversation's uploads) runs on its own


class _Calls:
    """Any call as `run_at_once` makes it (`run(arguments)`)."""

    def __init__(self, call) -> None:  # noqa: ANN001
        self.run = call
