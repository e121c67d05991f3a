"""In-process implementations: the default for one instance (`make run`) and for tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson

from agent.sessions.base import Decision, State, Updater
from agent.sessions.errors import LockTimeout


SWEEP_EVERY = 1000  # writes between two sweeps of expired entries: a state nobody reads again is dropped too


class MemorySessionStore:
    def __init__(self, ttl_s: float, lock_wait_s: float) -> None:
        self.ttl_s = ttl_s
        self.lock_wait_s = lock_wait_s
        # id -> (expires at, the state as JSON): stored as Redis stores it, so each reader gets its own copy (a JSON
        # round trip costs a fraction of two deep copies) and a state Redis could not hold fails here too.
        self._data: dict[str, tuple[float, bytes]] = {}
        self._writes = 0
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # id -> (its lock, turns holding or awaiting it)

    def _sweep(self) -> None:
        """Expired states leave on a read, and every SWEEP_EVERY writes all at once: a single instance runs for
        weeks, and most conversations are never read again once they end."""
        self._writes += 1
        if self._writes % SWEEP_EVERY:
            return
        now = time.monotonic()
        for session_id in [key for key, (expires, _) in self._data.items() if expires < now]:
            del self._data[session_id]

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
        self._sweep()
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
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._hits = 0

    def _sweep(self, now: float) -> None:
        """Every SWEEP_EVERY hits, buckets refilled to the brim go: a full bucket is what a new key gets anyway."""
        self._hits += 1
        if self._hits % SWEEP_EVERY:
            return
        for key in [k for k, (tokens, at) in self._buckets.items() if tokens + (now - at) * self.rate >= self.burst]:
            del self._buckets[key]

    async def hit(self, key: str) -> Decision:
        now = time.monotonic()
        self._sweep(now)
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return Decision(True)
        self._buckets[key] = (tokens, now)
        return Decision(False, (1 - tokens) / self.rate)
