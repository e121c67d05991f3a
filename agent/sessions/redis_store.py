"""Redis implementations, shared by every instance of the app.

- State is a hash {v: version token, d: Fernet-encrypted JSON}. Updates are compare-and-set in
  Lua on the version token (random, so a deleted-then-recreated session never reuses one) and
  are retried when another writer wins.
- An in-process L1 cache holds decrypted states. Writers publish the key on an invalidation
  channel; every instance drops it from L1. Taking a conversation's lock also returns the
  stored version, and a cached state with another version is dropped, so a turn, which always
  runs under the lock, never starts from stale state even if an invalidation is in flight.
- Locks are a random token with an expiry, released and extended by Lua only by their holder,
  and extended in the background while a turn runs.
- Rate limits are a token bucket in Lua, timed by Redis's clock so instances agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import redis.asyncio as aioredis
from cachetools import TTLCache
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from redis.exceptions import RedisError

from agent.sessions.base import Decision, State, Updater
from agent.sessions.errors import LockTimeout, SessionConflict, SessionUnavailable

_CLOSE_TIMEOUT_S = 2.0  # shutting a store down must never hang on a half-open connection
_LISTEN_POLL_S = 1.0  # how often the invalidation listener checks whether the store was closed
_LISTEN_RETRY_S = 1.0  # pause before resubscribing after the channel was lost
log = logging.getLogger(__name__)

_CAS = """
local current = redis.call('HGET', KEYS[1], 'v')
if (current or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""
_LOCK = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('HGET', KEYS[2], 'v') or ''}
end
return {0, ''}
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_BUCKET = """
local rate, burst, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) / 1000 * rate)
local allowed, wait = 0, 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 else wait = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], ttl)
return {allowed, wait}
"""
_LOCK_POLL_S = 0.05  # how often a waiting turn retries the lock


def connect(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url)


def fernet(keys: list[str]) -> MultiFernet:
    """Encrypt with the first key, decrypt with any: add a new key first, drop the old one later."""
    if not keys:
        log.warning("SESSION_ENCRYPTION_KEYS is empty: using a per-process key; set one for several instances")
        keys = [Fernet.generate_key().decode()]
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


class RedisSessionStore:
    def __init__(self, client: aioredis.Redis, *, prefix: str, ttl_s: float, crypto: MultiFernet,
                 l1_size: int, l1_ttl_s: float, cas_retries: int, lock_ttl_s: float, lock_wait_s: float) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_ms = int(ttl_s * 1000)
        self.crypto = crypto
        self.cas_retries = cas_retries
        self.lock_ttl_ms = int(lock_ttl_s * 1000)
        self.lock_wait_s = lock_wait_s
        self._l1: TTLCache[str, tuple[str, bytes]] = TTLCache(maxsize=l1_size, ttl=l1_ttl_s)  # id -> (version, json)
        self._cas = client.register_script(_CAS)
        self._lock = client.register_script(_LOCK)
        self._release = client.register_script(_RELEASE)
        self._extend = client.register_script(_EXTEND)
        self._listener: asyncio.Task | None = None
        self._closed = False
        self.channel = f"{prefix}invalidate"

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}state:{session_id}"

    async def _listen(self) -> None:
        # get_message() polling, not `async for pubsub.listen()`: an async generator cancelled
        # mid-read cannot be closed cleanly, and `_closed` stops the loop even if a cancel is lost.
        while not self._closed:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                while not self._closed:
                    message = await pubsub.get_message(timeout=_LISTEN_POLL_S)
                    if message is not None and message["type"] == "message":
                        self._invalidate(message["data"].decode())
            except asyncio.CancelledError:
                raise
            except RedisError as exc:
                if self._closed:
                    return
                log.warning("session invalidation channel lost (%s); clearing the L1 cache", exc)
                self._l1.clear()  # invalidations may have been missed
                await asyncio.sleep(_LISTEN_RETRY_S)
            finally:
                # Bounded: a pubsub cancelled mid-subscribe can wait forever on its connection.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), _CLOSE_TIMEOUT_S)

    def _invalidate(self, notice: str) -> None:
        # "<id> <version>": our own writes come back too, and must not evict what they just cached.
        session_id, _, version = notice.rpartition(" ")
        cached = self._l1.get(session_id)
        if cached is not None and cached[0] != version:
            self._l1.pop(session_id, None)

    def _ensure_listener(self) -> None:
        if not self._closed and (self._listener is None or self._listener.done()):
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _fetch(self, session_id: str) -> tuple[str, State | None]:
        version, blob = await self.client.hmget(self._key(session_id), ["v", "d"])
        if version is None or blob is None:
            return "", None
        try:
            plain = self.crypto.decrypt(blob)
        except InvalidToken:
            log.error("session %s cannot be decrypted with the configured keys; treating it as missing", session_id)
            return version.decode(), None
        self._l1[session_id] = (version.decode(), plain)
        return version.decode(), orjson.loads(plain)

    async def get(self, session_id: str) -> State | None:
        self._ensure_listener()
        cached = self._l1.get(session_id)
        if cached is not None:
            return orjson.loads(cached[1])
        try:
            return (await self._fetch(session_id))[1]
        except RedisError as exc:
            raise SessionUnavailable(str(exc)) from exc

    async def update(self, session_id: str, fn: Updater) -> State:
        self._ensure_listener()
        try:
            for _ in range(self.cas_retries):
                cached = self._l1.get(session_id)
                version, current = (cached[0], orjson.loads(cached[1])) if cached else await self._fetch(session_id)
                new = fn(current)
                plain = orjson.dumps(new)
                new_version = secrets.token_hex(8)
                blob = self.crypto.encrypt(plain)
                args = [version, new_version, blob, self.ttl_ms, self.channel, f"{session_id} {new_version}"]
                if await self._cas(keys=[self._key(session_id)], args=args):
                    self._l1[session_id] = (new_version, plain)
                    return new
                self._l1.pop(session_id, None)  # someone else wrote: read again
        except RedisError as exc:
            raise SessionUnavailable(str(exc)) from exc
        raise SessionConflict(f"session {session_id}: {self.cas_retries} write conflicts in a row")

    async def delete(self, session_id: str) -> None:
        try:
            await self.client.delete(self._key(session_id))
            self._l1.pop(session_id, None)
            await self.client.publish(self.channel, f"{session_id} deleted")
        except RedisError as exc:
            raise SessionUnavailable(str(exc)) from exc

    async def touch(self, session_id: str) -> bool:
        try:
            return bool(await self.client.pexpire(self._key(session_id), self.ttl_ms))
        except RedisError as exc:
            raise SessionUnavailable(str(exc)) from exc

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        key, token = f"{self.prefix}lock:{session_id}", secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_wait_s
        try:
            while True:
                acquired, version = await self._lock(keys=[key, self._key(session_id)], args=[token, self.lock_ttl_ms])
                if acquired:
                    break
                if loop.time() > deadline:
                    raise LockTimeout(f"lock on {session_id} not acquired in {self.lock_wait_s} s")
                await asyncio.sleep(_LOCK_POLL_S)
        except RedisError as exc:
            raise SessionUnavailable(str(exc)) from exc
        cached = self._l1.get(session_id)
        if cached is not None and cached[0] != version.decode():
            self._l1.pop(session_id, None)
        keeper = loop.create_task(self._keep(key, token))
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(RedisError):
                await self._release(keys=[key], args=[token])

    async def _keep(self, key: str, token: str) -> None:
        """Extend the lock while its turn runs, so a long turn keeps it and a crashed one loses it."""
        while True:
            await asyncio.sleep(self.lock_ttl_ms / 3000)
            try:
                if not await self._extend(keys=[key], args=[token, self.lock_ttl_ms]):
                    log.error("lost the lock %s: another instance may run this conversation now", key)
                    return
            except RedisError as exc:
                log.warning("could not extend lock %s: %s", key, exc)

    async def close(self) -> None:
        self._closed = True
        if self._listener:
            self._listener.cancel()
            await asyncio.wait({self._listener}, timeout=_CLOSE_TIMEOUT_S)
        await asyncio.wait_for(self.client.aclose(), _CLOSE_TIMEOUT_S)


class RedisRateLimiter:
    def __init__(self, client: aioredis.Redis, *, prefix: str, per_minute: float, burst: int) -> None:
        self.client = client
        self.prefix = prefix
        self.rate = per_minute / 60.0
        self.burst = burst
        self._bucket = client.register_script(_BUCKET)

    async def hit(self, key: str) -> Decision:
        refill_ms = int(self.burst / self.rate * 1000) + 1000  # a full bucket needs no key
        try:
            allowed, wait_ms = await self._bucket(keys=[f"{self.prefix}rate:{key}"],
                                                  args=[self.rate, self.burst, refill_ms])
        except RedisError as exc:
            # Fail open: a Redis outage must not lock every customer out of support.
            log.warning("rate limiter unavailable (%s); allowing %s", exc, key)
            return Decision(True)
        return Decision(bool(allowed), wait_ms / 1000)


async def ping(url: str) -> None:
    """Raise unless the Redis at `url` answers PING (readiness: a fresh connection, as a new instance would make)."""
    client = connect(url)
    try:
        await client.ping()
    finally:
        await asyncio.wait_for(client.aclose(), _CLOSE_TIMEOUT_S)
