"""Session state through the Redis SessionStore against raw redis-py, measured in the same run.

Baseline: a raw GET + SET of the same encrypted payload on the same server. Measured: a
session read that misses the L1 cache, an atomic update (Lua compare-and-set), and an L1 hit.
Targets: update ≤ 1.5x the raw round trip; an L1 hit ≥ 20x faster than a raw GET.

    .venv/bin/python bench/bench_sessions.py [--url redis://127.0.0.1:6379/0] [--rounds 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aioredis  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from agent.sessions.redis_store import RedisSessionStore, fernet  # noqa: E402

STATE = {"id": "c", "user_id": "dana@example.com", "summary": "- Customer: asked about #W1234567",
         "messages": [{"role": "user" if i % 2 == 0 else "assistant", "content": "A typical support message. " * 6}
                      for i in range(12)], "uploads": []}


async def timed(fn, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


async def main(url: str, rounds: int) -> None:
    prefix = f"bench:{uuid.uuid4().hex}:"
    client = aioredis.Redis.from_url(url)
    key = Fernet.generate_key().decode()
    store = RedisSessionStore(aioredis.Redis.from_url(url), prefix=prefix, ttl_s=600, crypto=fernet([key]),
                              l1_size=10, l1_ttl_s=600, cas_retries=10, lock_ttl_s=5, lock_wait_s=5)
    cold = RedisSessionStore(aioredis.Redis.from_url(url), prefix=prefix, ttl_s=600, crypto=fernet([key]),
                             l1_size=1, l1_ttl_s=0.000001, cas_retries=10, lock_ttl_s=5, lock_wait_s=5)
    import json

    blob = store.crypto.encrypt(json.dumps(STATE).encode())
    raw_key = f"{prefix}raw"

    async def raw_get_set() -> None:
        await client.get(raw_key)
        await client.set(raw_key, blob, px=600_000)

    async def raw_get() -> None:
        await client.get(raw_key)

    await store.update("s", lambda s: STATE)
    await store.get("s")
    try:
        for fn in (raw_get_set, raw_get, lambda: cold.get("s"), lambda: store.update("s", lambda s: STATE),
                   lambda: store.get("s")):
            await timed(fn, 50)  # warm-up
        raw_rt = await timed(raw_get_set, rounds)
        raw_one = await timed(raw_get, rounds)
        read_miss = await timed(lambda: cold.get("s"), rounds)
        update = await timed(lambda: store.update("s", lambda s: STATE), rounds)
        hit = await timed(lambda: store.get("s"), rounds)
    finally:
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
        for s in (store, cold):
            await s.close()
        await client.aclose()

    med = statistics.median
    print(f"{rounds} rounds each, payload {len(blob)} bytes encrypted")
    print("| measure | median µs | ratio |")
    print("|---|---|---|")
    print(f"| raw GET + SET (baseline) | {med(raw_rt):.0f} | 1.00x |")
    print(f"| session update (CAS in Lua, encrypt, publish) | {med(update):.0f} | {med(update) / med(raw_rt):.2f}x (target ≤ 1.5x) |")
    print(f"| session read, L1 miss (GET, decrypt) | {med(read_miss):.0f} | {med(read_miss) / med(raw_rt):.2f}x |")
    print(f"| raw GET | {med(raw_one):.0f} | |")
    print(f"| session read, L1 hit | {med(hit):.1f} | {med(read_miss) / med(hit):.0f}x faster than a read from Redis "
          f"(target ≥ 20x); {med(raw_one) / med(hit):.0f}x faster than a bare raw GET |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.rounds))
