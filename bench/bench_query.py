"""Query latency at ~10k chunks against its own floor, measured in the same run.

Store: the shipped docs' real chunks, varied into `--chunks` distinct chunks (a sentence
swapped in from another chunk, a product name and a number added), embedded once and
written to a temporary Chroma collection.

Baseline: one raw forward pass of the question (the configured embedding runner) plus one raw Chroma
query on the same collection: the least work any search needs. `KnowledgeBase.search`
adds spelling correction, BM25, reciprocal-rank fusion, fetching keyword-only hits and
near-duplicate removal on top. Printed as p50/p99 in milliseconds and as a ratio to the
baseline.

    .venv/bin/python bench/bench_query.py [--chunks N] [--rounds N]
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge.factory import build_backend, knowledge_base  # noqa: E402
from agent.settings import KnowledgeSettings, Settings  # noqa: E402
from knowledge.base import _KeywordIndex  # noqa: E402
from knowledge.clean import clean  # noqa: E402
from knowledge.convert import convert  # noqa: E402
from knowledge.embedder import Embedder  # noqa: E402
from knowledge.pipeline import embedding_text  # noqa: E402
from knowledge.split import split  # noqa: E402
from knowledge.text import split_sentences  # noqa: E402
from knowledge.types import Chunk  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "knowledge" / "docs"
TARGET = 1.3  # search latency as a multiple of the raw encode + query latency

QUESTIONS = [
    "How long do I have to return an item?",
    "how long does standard shipping take",
    "can i cancel my order",
    "when will I get my refund on my credit card",
    "do you ship to australia",
    "I forgot my pasword",
    "Do you sell cars?",
    "what payment methods do you accept",
    "my package says delivered but I never got it",
    "the blender arrived broken, what do I do",
    "can I exchange my jacket for a different size",
    "how do I check the balance on my gift card",
    "is my headphones warranty still valid after a year",
    "I need an invoice with my company's VAT number",
    "the price dropped a week after I bought it, can I get the difference",
    "how do I change the shipping address on my order",
    "what does 'processing' mean for my order status",
    "how do I delete my account and my data",
    "do international orders pay customs duties",
    "how can I talk to a human agent",
]

PRODUCTS = [
    "Aurora desk lamp", "Breeze tower fan", "Cedar cutting board", "Drift rain jacket", "Ember wool throw",
    "Fjord water bottle", "Glide wireless earbuds", "Harbor duffel bag", "Iris ceramic mug set",
    "Juniper linen sheets", "Kestrel trail backpack", "Lumen smart bulb", "Meadow cotton tee",
    "Nimbus noise-cancelling headphones", "Orbit portable speaker", "Pine camp stove", "Quill notebook",
    "Ridge hiking boots", "Summit tent", "Tidal blender", "Umber leather wallet", "Vale fleece hoodie",
    "Willow plant stand", "Zephyr electric kettle",
]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def real_chunks(settings: Settings) -> list[Chunk]:
    cfg = settings.knowledge
    chunks = []
    for path in sorted(p for p in DOCS.iterdir() if p.is_file() and not p.name.startswith(".")):
        document = convert(path.read_bytes(), path.name, source=path.name)
        chunks += split(clean(document), cfg.chunk_max_words, cfg.chunk_overlap_words)
    return chunks


def variants(base: list[Chunk], count: int, seed: int = 7) -> list[Chunk]:
    """`count` distinct chunks: each a real chunk with one sentence swapped for one of another
    chunk, and a product name and an order number worked in; the first copy is the original."""
    rng = random.Random(seed)
    sentences = [split_sentences(c.text) or [c.text] for c in base]
    out = []
    for n in range(count):
        copy, index = divmod(n, len(base))
        chunk = base[index]
        source = f"{Path(chunk.source).stem}-{copy:03d}.md"
        if copy == 0:
            text = chunk.text
        else:
            own = list(sentences[index])
            other = sentences[rng.randrange(len(base))]
            own[rng.randrange(len(own))] = rng.choice(other)
            product = rng.choice(PRODUCTS)
            own.insert(rng.randrange(len(own) + 1),
                       f"This also applies to the {product} (item {rng.randint(10000, 99999)}) "
                       f"on order LG-{rng.randint(100000, 999999)}.")
            text = " ".join(own)
        chunk_id = hashlib.sha1(f"{source}#{n}".encode()).hexdigest()[:24]
        out.append(Chunk(id=chunk_id, text=text, source=source, title=chunk.title, section=chunk.section,
                         page=chunk.page))
    return out


def fill_store(store, embedder: Embedder, chunks: list[Chunk]) -> None:
    """Embed the chunks once and write them, one write per document as the pipeline does."""
    start = time.perf_counter()
    vectors = embedder.embed([embedding_text(c) for c in chunks])
    embed_s = time.perf_counter() - start
    by_source: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        by_source.setdefault(c.source, []).append(i)
    start = time.perf_counter()
    for source, rows in by_source.items():  # one write per document, with the pipeline's metadata
        extra = {"doc_hash": hashlib.sha256(source.encode()).hexdigest(), "chunk_count": len(rows),
                 "root": "", "kind": "md"}
        store.upsert([chunks[i] for i in rows], vectors[rows], extra)
    write_s = time.perf_counter() - start
    print(f"store: {store.count()} chunks (embedded in {embed_s:.0f} s, written in {write_s:.0f} s)")


def time_keyword_index(store, kb) -> tuple[float, float, float]:
    """(fetch, build, first search's build) seconds of the BM25 index: what the first search after a change pays."""
    start = time.perf_counter()
    rows = store.texts()
    fetch_s = time.perf_counter() - start
    start = time.perf_counter()
    _KeywordIndex().build(rows)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    kb._keyword_index()
    first_s = time.perf_counter() - start
    return fetch_s, build_s, first_s


def time_queries(raw_once, kb, rounds: int) -> tuple[list[float], list[float]]:
    """Milliseconds per question of the baseline and of KnowledgeBase.search, after one warm-up round."""
    for q in QUESTIONS:  # warm-up
        raw_once(q)
        kb.search(q)
    raw, search = [], []
    for _ in range(rounds):
        for q in QUESTIONS:
            start = time.perf_counter()
            raw_once(q)
            raw.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            kb.search(q)
            search.append((time.perf_counter() - start) * 1000)
    return raw, search


def main(n_chunks: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as store_dir:
        cfg = KnowledgeSettings(store_dir=Path(store_dir))
        settings = Settings(knowledge=cfg)
        embedder = Embedder(cfg.embedding_model_path, cfg.embedding_batch_size)
        backend = build_backend(settings.knowledge, embedder)
        store = backend.open(cfg.collection)
        kb = knowledge_base(settings.knowledge, store, embedder)

        fill_store(store, embedder, variants(real_chunks(settings), n_chunks))

        raw_model = embedder._load()
        raw_collection = store._collection
        top_k = kb.options.top_k

        # BM25 build, timed once: what the first search after a change pays.
        fetch_s, build_s, first_s = time_keyword_index(store, kb)

        def raw_once(question: str) -> None:
            vector = raw_model.encode([question])
            raw_collection.query(query_embeddings=vector, n_results=top_k)

        raw, search = time_queries(raw_once, kb, rounds)

    ratio50 = statistics.median(search) / statistics.median(raw)
    ratio99 = percentile(search, 99) / percentile(raw, 99)
    verdict = "PASS" if max(ratio50, ratio99) <= TARGET else "MISS"
    print(f"BM25 index build: {first_s * 1000:.0f} ms on first search "
          f"(store.texts() {fetch_s * 1000:.0f} ms + spelling vocabulary and BM25 {build_s * 1000:.0f} ms)")
    print(f"{len(raw)} questions per side ({len(QUESTIONS)} x {rounds} rounds), {n_chunks} chunks, "
          f"top_k {top_k}, {kb.options.candidates} candidates per retriever")
    print("| measure | p50 ms | p99 ms |")
    print("|---|---|---|")
    print(f"| raw encode + Chroma query (baseline) | {statistics.median(raw):.1f} | {percentile(raw, 99):.1f} |")
    print(f"| KnowledgeBase.search (hybrid) | {statistics.median(search):.1f} | {percentile(search, 99):.1f} |")
    print(f"| ratio search / baseline | {ratio50:.2f}x | {ratio99:.2f}x |")
    print(f"target <= {TARGET:.1f}x at p50 and p99: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    main(args.chunks, args.rounds)
