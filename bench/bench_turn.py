"""Offline answer latency against its own floor, measured in the same run.

Baseline: one raw forward pass of the question (the configured embedding runner) plus one raw Chroma
query on the same collection: the least work any answer needs. The agent turn adds
sentence scoring, prompt building and event streaming on top. Printed as p50/p95
in milliseconds and as a ratio to the baseline.

    .venv/bin/python bench/bench_turn.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.runner.conversation import Conversation  # noqa: E402
from agent.factory import build_services  # noqa: E402
from agent.settings import DatabaseSettings, KnowledgeSettings, Settings  # noqa: E402
from tools.store.migrate import migrate_store  # noqa: E402
from tools.store.seed import ensure_seeded  # noqa: E402

QUESTIONS = [
    "How long do I have to return an item?",
    "how long does standard shipping take",
    "can i cancel my order",
    "when will I get my refund on my credit card",
    "do you ship to australia",
    "I forgot my password",
    "Do you sell cars?",
    "what payment methods do you accept",
]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as store:
        # A private database with the demo shop, as the app migrates and seeds it at start: the questions that
        # reach the catalog read real rows instead of failing through their retries.
        settings = Settings(knowledge=KnowledgeSettings(store_dir=Path(store)),
                            database=DatabaseSettings(url=f"sqlite+aiosqlite:///{Path(store) / 'app.db'}"))
        await migrate_store(*settings.store_database)
        services = build_services(settings)
        await ensure_seeded(services.store, settings)
        kb = services.knowledge
        raw_model = kb.embedder._load()
        raw_collection = kb.store._collection

        def raw_once(question: str) -> None:
            vector = raw_model.encode([question])
            raw_collection.query(query_embeddings=vector, n_results=kb.options.top_k)

        async def turn_once(question: str) -> None:
            async for _ in services.agent.run_turn(Conversation("bench"), question):
                pass

        for q in QUESTIONS:  # warm-up
            raw_once(q)
            await turn_once(q)
        raw, turn = [], []
        for _ in range(rounds):
            for q in QUESTIONS:
                start = time.perf_counter()
                raw_once(q)
                raw.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                await turn_once(q)
                turn.append((time.perf_counter() - start) * 1000)

    print(f"{len(raw)} questions per side, {kb.store.count()} chunks")
    print("| measure | p50 ms | p95 ms |")
    print("|---|---|---|")
    print(f"| raw encode + Chroma query (baseline) | {statistics.median(raw):.1f} | {percentile(raw, 95):.1f} |")
    print(f"| offline agent turn | {statistics.median(turn):.1f} | {percentile(turn, 95):.1f} |")
    print(f"| ratio turn / baseline | {statistics.median(turn) / statistics.median(raw):.2f}x "
          f"| {percentile(turn, 95) / percentile(raw, 95):.2f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(main(parser.parse_args().rounds))
