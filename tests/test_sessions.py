"""One contract suite for every SessionStore and RateLimiter, plus Redis-specific guarantees.

The Redis side talks to the real redis-server on 127.0.0.1:6379, under a key prefix of its own
that it deletes afterwards; it never flushes anything.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from agent.sessions.errors import LockTimeout, SessionUnavailable
from agent.sessions.memory import MemoryRateLimiter, MemorySessionStore
from agent.sessions.redis_store import RedisRateLimiter, RedisSessionStore, fernet
from tests.conftest import require
from tests.waiting import eventually

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_available() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        require(False, f"no redis-server at {REDIS_URL}: {exc}")


@pytest.fixture
def prefix(redis_available):
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)


def redis_store(prefix: str, keys: list[str] | None = None, **overrides) -> RedisSessionStore:
    options = dict(prefix=prefix, ttl_s=60, crypto=fernet(keys or [KEY_A]), l1_size=100, l1_ttl_s=30,
                   cas_retries=50, lock_ttl_s=2, lock_wait_s=5)
    return RedisSessionStore(aioredis.Redis.from_url(REDIS_URL), **(options | overrides))


KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


@pytest.fixture(params=["memory", "redis"])
async def make_store(request):
    made = []

    def make(**overrides):
        if request.param == "memory":
            store = MemorySessionStore(overrides.get("ttl_s", 60), overrides.get("lock_wait_s", 5))
            if made:  # one process: "instances" share the same state and locks
                store._data, store._locks = made[0]._data, made[0]._locks
        else:
            store = redis_store(request.getfixturevalue("prefix"), **overrides)
        made.append(store)
        return store

    yield make
    for store in {id(s): s for s in made}.values():
        await store.close()


async def test_get_update_delete_touch(make_store):
    store = make_store()
    assert await store.get("c1") is None
    assert await store.touch("c1") is False
    created = await store.update("c1", lambda s: {"turns": (s or {}).get("turns", 0) + 1, "name": "Dana"})
    assert created == {"turns": 1, "name": "Dana"}
    assert await store.update("c1", lambda s: s | {"turns": s["turns"] + 1}) == {"turns": 2, "name": "Dana"}
    assert await store.get("c1") == {"turns": 2, "name": "Dana"}
    assert await store.touch("c1") is True
    returned = await store.get("c1")
    returned["turns"] = 99
    assert (await store.get("c1"))["turns"] == 2, "callers get copies"
    await store.delete("c1")
    assert await store.get("c1") is None


async def test_both_stores_keep_what_json_keeps(make_store):
    # The in-process store keeps the state as Redis does: a state Redis could not hold fails in development too,
    # and what a turn reads back is what the next instance would read.
    store = make_store()
    written = {"order": ("W1", 2), "nested": {"ids": [1, 2]}}
    returned = await store.update("c-json", lambda _s: written)
    written["nested"]["ids"].append(3)  # the caller's object, changed after the write: not the stored state
    assert returned is written
    assert await store.get("c-json") == {"order": ["W1", 2], "nested": {"ids": [1, 2]}}
    with pytest.raises(TypeError):
        await store.update("c-json", lambda _s: {"seen": {1, 2}})
    assert await store.get("c-json") == {"order": ["W1", 2], "nested": {"ids": [1, 2]}}


async def test_state_expires(make_store):
    store = make_store(ttl_s=0.3)
    await store.update("c-ttl", lambda s: {"x": 1})

    async def gone() -> bool:
        fresh = make_store(ttl_s=0.3)  # a new instance for every look, so an L1 copy cannot answer
        return await fresh.get("c-ttl") is None

    await eventually(gone, "the state expires after its 0.3 s TTL", timeout=3)


async def test_concurrent_updates_are_never_lost(make_store):
    stores = [make_store(), make_store()]  # two instances

    async def bump(i: int) -> None:
        await stores[i % 2].update("c-count", lambda s: {"n": (s or {"n": 0})["n"] + 1})

    await asyncio.gather(*(bump(i) for i in range(40)))
    assert (await make_store().get("c-count")) == {"n": 40}


async def test_lock_serialises_turns_across_instances(make_store):
    stores = [make_store(), make_store()]
    spans: list[tuple[float, float]] = []

    async def turn(i: int) -> None:
        async with stores[i % 2].lock("c-lock"):
            start = time.monotonic()
            await asyncio.sleep(0.05)
            spans.append((start, time.monotonic()))

    await asyncio.gather(*(turn(i) for i in range(6)))
    spans.sort()
    assert len(spans) == 6
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])), "turns overlapped"


async def test_lock_wait_has_a_limit(make_store):
    holder, waiter = make_store(), make_store(lock_wait_s=0.2)
    async with holder.lock("c-busy"):
        with pytest.raises(LockTimeout):
            async with waiter.lock("c-busy"):
                pass
    async with waiter.lock("c-busy"):
        pass  # free again once released


@pytest.mark.parametrize("make_limiter", ["memory", "redis"])
async def test_rate_limit_allows_a_burst_then_slows(make_limiter, request):
    if make_limiter == "memory":
        limiters = [MemoryRateLimiter(per_minute=60, burst=3)] * 2
    else:
        prefix = request.getfixturevalue("prefix")
        client = aioredis.Redis.from_url(REDIS_URL)
        limiters = [RedisRateLimiter(client, prefix=prefix, per_minute=60, burst=3) for _ in range(2)]
    decisions = [await limiters[i % 2].hit("user-1") for i in range(4)]  # shared across instances
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert 0 < decisions[-1].retry_after_s <= 1.0
    assert (await limiters[0].hit("user-2")).allowed, "buckets are per user"

    async def refilled() -> bool:  # a refused hit takes no token, so looking does not delay the refill
        return (await limiters[1].hit("user-1")).allowed

    await eventually(refilled, "the bucket refills", timeout=decisions[-1].retry_after_s + 2)


# --- Redis-specific guarantees ---------------------------------------------------------------


async def test_state_is_encrypted_at_rest(prefix):
    store = redis_store(prefix)
    await store.update("c-secret", lambda s: {"email": "dana@example.com"})
    raw = redis.Redis.from_url(REDIS_URL).hget(f"{prefix}state:c-secret", "d")
    assert b"dana@example.com" not in raw and b"email" not in raw
    assert b"dana@example.com" in Fernet(KEY_A.encode()).decrypt(raw)
    await store.close()


async def test_key_rotation(prefix):
    old = redis_store(prefix, [KEY_A])
    await old.update("c-rot", lambda s: {"v": "written with A"})
    rotated = redis_store(prefix, [KEY_B, KEY_A])  # new key first, old key still accepted
    assert await rotated.get("c-rot") == {"v": "written with A"}
    await rotated.update("c-rot", lambda s: s | {"v": "written with B"})
    only_new = redis_store(prefix, [KEY_B])  # the old key retired
    assert await only_new.get("c-rot") == {"v": "written with B"}
    only_old = redis_store(prefix, [KEY_A])
    assert await only_old.get("c-rot") is None, "data under an unknown key is unreadable, not an error"
    for store in (old, rotated, only_new, only_old):
        await store.close()


async def test_cas_conflict_is_retried(prefix):
    store = redis_store(prefix)
    await store.update("c-cas", lambda s: {"n": 1})
    sync = redis.Redis.from_url(REDIS_URL)
    calls = []

    def update(state):
        calls.append(state["n"])
        if len(calls) == 1:  # another instance writes between our read and our write
            sync.hset(f"{prefix}state:c-cas", mapping={"v": "someone-else", "d": store.crypto.encrypt(b'{"n": 10}')})
        return {"n": state["n"] + 1}

    assert await store.update("c-cas", update) == {"n": 11}
    assert calls == [1, 10], "the update ran again on the winner's state"
    await store.close()


async def test_l1_cache_is_invalidated_across_instances(prefix):
    a, b = redis_store(prefix), redis_store(prefix)
    await a.update("c-l1", lambda s: {"step": 1})
    assert await a.get("c-l1") == {"step": 1}  # cached in a's L1
    await b.update("c-l1", lambda s: {"step": 2})
    async with a.lock("c-l1"):
        assert await a.get("c-l1") == {"step": 2}, "under the lock a turn never sees stale state"
    await b.update("c-l1", lambda s: {"step": 3})

    async def invalidated() -> bool:  # the pub/sub invalidation arrives within milliseconds
        return await a.get("c-l1") == {"step": 3}

    await eventually(invalidated, "a's L1 copy is invalidated by b's write", timeout=5)
    await a.close()
    await b.close()


async def test_an_abandoned_lock_expires(prefix):
    redis.Redis.from_url(REDIS_URL).set(f"{prefix}lock:c-crash", "crashed-holder", px=300)
    store = redis_store(prefix, lock_wait_s=2)
    started = time.monotonic()
    async with store.lock("c-crash"):
        assert time.monotonic() - started >= 0.2
    await store.close()


async def test_a_long_turn_keeps_its_lock(prefix):
    a, b = redis_store(prefix, lock_ttl_s=0.3), redis_store(prefix, lock_ttl_s=0.3, lock_wait_s=0.2)
    async with a.lock("c-long"):
        await asyncio.sleep(0.7)  # longer than the TTL: the keeper extends it
        with pytest.raises(LockTimeout):
            async with b.lock("c-long"):
                pass
    await a.close()
    await b.close()


async def test_redis_outage_is_a_clear_error_and_rate_limits_fail_open():
    dead = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    store = RedisSessionStore(dead, prefix="x:", ttl_s=60, crypto=fernet([KEY_A]), l1_size=10, l1_ttl_s=1,
                              cas_retries=2, lock_ttl_s=1, lock_wait_s=1)
    with pytest.raises(SessionUnavailable) as info:
        await store.get("c1")
    assert "saved" in info.value.user_message
    limiter = RedisRateLimiter(dead, prefix="x:", per_minute=1, burst=1)
    assert (await limiter.hit("u")).allowed
    await store.close()


async def test_the_memory_store_drops_what_nobody_reads_again():
    """A single instance runs for weeks: expired states go at the next write even if never read again, and a
    conversation's lock lives only while a turn holds or awaits it."""
    store = MemorySessionStore(ttl_s=0.05, lock_wait_s=0.1)
    await store.update("ended", lambda _: {"turns": 1})
    await asyncio.sleep(0.1)
    await store.update("a", lambda _: {})
    assert set(store._data.keys()) == {"a"} and len(store._data) == 1

    order = []

    async def turn(name: str) -> None:
        async with store.lock("c1"):
            order.append(name)
            await asyncio.sleep(0.02)

    await asyncio.gather(turn("first"), turn("second"))
    assert order == ["first", "second"] and store._locks == {}
    with pytest.raises(LockTimeout):
        async with store.lock("c2"):
            async with store.lock("c2"):  # the same conversation again: waits out lock_wait_s
                pass
    assert store._locks == {}

    limiter = MemoryRateLimiter(per_minute=6000, burst=2)  # refilled within 20 ms
    for key in ("u1", "u2"):
        assert (await limiter.hit(key)).allowed
    await asyncio.sleep(0.05)
    assert (await limiter.hit("u3")).allowed  # the two full buckets went with this write
    assert len(limiter._buckets) == 1 and "u3" in limiter._buckets
