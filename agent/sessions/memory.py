"""In-process implementations: the default for one instance (`make run`) and for tests."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from cachetools import TTLCache

from agent.sessions.base import Decision, State, Updater
from agent.sessions.errors import LockTimeout


class MemorySessionStore:
    def __init__(self, ttl_s: float, lock_wait_s: float) -> None:
        self.ttl_s = ttl_s
        self.lock_wait_s = lock_wait_s
        # id -> the state as JSON: stored as Redis stores it, so each reader gets its own copy (a JSON round trip
        # costs a fraction of two deep copies) and a state Redis could not hold fails here too. A TTLCache drops
        # expired states on every write, read again or not: a single instance runs for weeks.
        self._data: TTLCache[str, bytes] = TTLCache(maxsize=math.inf, ttl=ttl_s)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # id -> (its lock, turns holding or awaiting it)

    async def get(self, session_id: str) -> State | None:
        plain = self._data.get(session_id)
        return orjson.loads(plain) if plain is not None else None

    async def update(self, session_id: str, fn: Updater) -> State:
        # No await between read and write: atomic on one event loop.
        plain = self._data.get(session_id)
        new = fn(orjson.loads(plain) if plain is not None else None)
        self._data[session_id] = orjson.dumps(new)  # a write restarts its time to live
        return new

    async def delete(self, session_id: str) -> None:
        self._data.pop(session_id, None)

    async def touch(self, session_id: str) -> bool:
        state = self._data.get(session_id)
        if state is None:
            return False
        self._data[session_id] = state
        return True

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        # A conversation's lock lives while a turn holds or awaits it: kept for every id ever seen, they piled up.
        lock, users = self._locks.get(session_id) or (asyncio.Lock(), 0)
        self._locks[session_id] = (lock, users + 1)
        try:
            try:
                await asyncio.wait_for(lock.acquire(), self.lock_wait_s)
            except TimeoutError as exc:
                raise LockTimeout(f"lock on {session_id} not acquired in {self.lock_wait_s} s") from exc
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[session_id]
            if users == 1:
                del self._locks[session_id]
            else:
                self._locks[session_id] = (lock, users - 1)

    async def close(self) -> None:
        self._data.clear()


class MemoryRateLimiter:
    """Token bucket per key: `burst` at once, refilled at `per_minute`."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        # key -> (tokens, at). A bucket untouched for burst / rate seconds is full again, as a new key's would be:
        # it leaves then, so the keys of every user ever seen do not pile up.
        self._buckets: TTLCache[str, tuple[float, float]] = TTLCache(maxsize=math.inf, ttl=burst / self.rate)

    async def hit(self, key: str) -> Decision:
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return Decision(True)
        self._buckets[key] = (tokens, now)
        return Decision(False, (1 - tokens) / self.rate)
