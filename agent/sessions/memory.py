"""In-process implementations: the default for one instance (`make run`) and for tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson

from agent.sessions.base import Decision, State, Updater
from agent.sessions.errors import LockTimeout


class MemorySessionStore:
    def __init__(self, ttl_s: float, lock_wait_s: float) -> None:
        self.ttl_s = ttl_s
        self.lock_wait_s = lock_wait_s
        # id -> (expires at, the state as JSON): stored as Redis stores it, so each reader gets its own copy (a JSON
        # round trip costs a fraction of two deep copies) and a state Redis could not hold fails here too.
        self._data: dict[str, tuple[float, bytes]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _live(self, session_id: str) -> bytes | None:
        entry = self._data.get(session_id)
        if entry is None or entry[0] < time.monotonic():
            self._data.pop(session_id, None)
            return None
        return entry[1]

    async def get(self, session_id: str) -> State | None:
        plain = self._live(session_id)
        return orjson.loads(plain) if plain is not None else None

    async def update(self, session_id: str, fn: Updater) -> State:
        # No await between read and write: atomic on one event loop.
        plain = self._live(session_id)
        new = fn(orjson.loads(plain) if plain is not None else None)
        self._data[session_id] = (time.monotonic() + self.ttl_s, orjson.dumps(new))
        return new

    async def delete(self, session_id: str) -> None:
        self._data.pop(session_id, None)

    async def touch(self, session_id: str) -> bool:
        state = self._live(session_id)
        if state is None:
            return False
        self._data[session_id] = (time.monotonic() + self.ttl_s, state)
        return True

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), self.lock_wait_s)
        except TimeoutError as exc:
            raise LockTimeout(f"lock on {session_id} not acquired in {self.lock_wait_s} s") from exc
        try:
            yield
        finally:
            lock.release()

    async def close(self) -> None:
        self._data.clear()


class MemoryRateLimiter:
    """Token bucket per key: `burst` at once, refilled at `per_minute`."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    async def hit(self, key: str) -> Decision:
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return Decision(True)
        self._buckets[key] = (tokens, now)
        return Decision(False, (1 - tokens) / self.rate)
