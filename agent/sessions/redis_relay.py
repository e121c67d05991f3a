"""The live relay across instances, over Redis pub/sub (see agent/sessions/relay.py for what it carries).

- One pub/sub connection per instance, whatever the number of listeners: a channel is subscribed when its
  first local listener arrives and unsubscribed when its last leaves, and one reader task hands every
  message to the local listeners (`Fanout`). PUBLISH therefore counts instances, not listeners.
- `listen` returns only once Redis confirmed the subscription, so an event published right after is not
  lost. Confirmations come back in the order the commands were sent, so each SUBSCRIBE queues a future per
  channel and the reader resolves the oldest one.
- When the connection is lost the reader opens a new one and subscribes every channel that still has a
  listener here; the listeners stay open meanwhile and simply receive nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from agent.sessions.relay import LISTENER_BUFFER, Fanout, LiveEvent, RelayUnavailable, drain

_CLOSE_TIMEOUT_S = 2.0  # shutting the relay down must never hang on a half-open connection
_POLL_S = 1.0  # how often the reader checks whether the relay was closed
_RETRY_S = 1.0  # pause before reconnecting after the pub/sub connection was lost
_SUBSCRIBE_TIMEOUT_S = 2.0  # how long `listen` waits for Redis to confirm before going on unconfirmed
log = logging.getLogger(__name__)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisRelay:
    def __init__(self, client: aioredis.Redis, *, prefix: str, buffer: int = LISTENER_BUFFER) -> None:
        self.client = client
        self.prefix = prefix
        self.fanout = Fanout(buffer)
        self._pubsub: PubSub | None = None
        self._lock = asyncio.Lock()  # one command at a time on the pub/sub connection, in a known order
        self._waiting: dict[str, deque[asyncio.Future[bool]]] = {}  # channel -> SUBSCRIBEs not yet confirmed
        self._reader: asyncio.Task | None = None
        self._closed = False

    def _channel(self, channel: str) -> str:
        return f"{self.prefix}{channel}"

    async def publish(self, channel: str, event: LiveEvent) -> int:
        try:
            return await self.client.publish(self._channel(channel), event.encode())
        except RedisError as exc:
            raise RelayUnavailable(str(exc)) from exc

    @asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[AsyncIterator[LiveEvent]]:
        queue, first = self.fanout.add(channel)
        try:
            if first:
                await self._subscribe(channel)
            yield drain(queue)
        finally:
            if self.fanout.remove(channel, queue):
                await self._unsubscribe(channel)

    async def close(self) -> None:
        self._closed = True
        if self._reader:
            self._reader.cancel()
            await asyncio.wait({self._reader}, timeout=_CLOSE_TIMEOUT_S)
        await self._drop(self._pubsub)
        self.fanout.queues.clear()
        await asyncio.wait_for(self.client.aclose(), _CLOSE_TIMEOUT_S)

    async def _subscribe(self, channel: str) -> None:
        self._ensure_reader()
        async with self._lock:
            try:
                if self._pubsub is None:
                    sent = await self._open()  # subscribes every channel with a listener here, this one included
                else:
                    sent = await self._send_subscribe(self._pubsub, [channel])
            except RedisError as exc:
                # The reader opens a fresh connection and subscribes this channel with the others.
                await self._drop(self._pubsub)
                log.warning("live channel %s not subscribed yet (%s); retrying when Redis is back", channel, exc)
                return
            confirmed = sent[channel]
        await asyncio.wait({confirmed}, timeout=_SUBSCRIBE_TIMEOUT_S)
        if not (confirmed.done() and confirmed.result()):
            log.warning("Redis did not confirm live channel %s in time; events may be missed until it does", channel)

    async def _unsubscribe(self, channel: str) -> None:
        async with self._lock:
            if channel in self.fanout.queues or self._pubsub is None:
                return  # a new listener arrived meanwhile, or the next connection will not subscribe it anyway
            try:
                await self._pubsub.unsubscribe(self._channel(channel))
            except RedisError as exc:
                # A subscription left behind would make PUBLISH count this instance as listening (and keep the
                # customer from being notified), so start over with only the channels that have listeners.
                log.warning("could not unsubscribe live channel %s (%s); reconnecting", channel, exc)
                await self._drop(self._pubsub)

    async def _send_subscribe(self, pubsub: PubSub, channels: list[str]) -> dict[str, asyncio.Future[bool]]:
        """SUBSCRIBE `channels`; per channel, a future the reader sets to True once Redis confirmed it."""
        loop = asyncio.get_running_loop()
        sent = {channel: loop.create_future() for channel in channels}
        for channel, confirmed in sent.items():  # queued first: the reader may see the confirmation before we resume
            self._waiting.setdefault(channel, deque()).append(confirmed)
        if channels:
            await pubsub.subscribe(*(self._channel(channel) for channel in channels))
        return sent

    async def _open(self) -> dict[str, asyncio.Future[bool]]:
        """A new connection subscribed to every channel that has a listener here. Call under the lock."""
        self._pubsub = pubsub = self.client.pubsub()
        try:
            await pubsub.connect()  # the reader polls it even while no channel is subscribed
            return await self._send_subscribe(pubsub, list(self.fanout.queues))
        except BaseException:
            await self._drop(pubsub)
            raise

    async def _drop(self, pubsub: PubSub | None) -> None:
        """Forget `pubsub` if it is still the current connection, and what was waiting for an answer on it."""
        if pubsub is None or pubsub is not self._pubsub:
            return
        self._pubsub = None
        for waiting in self._waiting.values():
            for confirmed in waiting:
                if not confirmed.done():
                    confirmed.set_result(False)
        self._waiting.clear()
        # Bounded: a pubsub cancelled mid-subscribe can wait forever on its connection.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pubsub.aclose(), _CLOSE_TIMEOUT_S)

    def _ensure_reader(self) -> None:
        if not self._closed and (self._reader is None or self._reader.done()):
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        # get_message() polling, not `async for pubsub.listen()`: an async generator cancelled mid-read
        # cannot be closed cleanly, and `_closed` stops the loop even if a cancel is lost.
        while not self._closed:
            pubsub = None
            try:
                async with self._lock:
                    if self._pubsub is None:
                        await self._open()
                    pubsub = self._pubsub
                while not self._closed:
                    message = await pubsub.get_message(timeout=_POLL_S)
                    if message is not None:
                        self._handle(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # whatever broke the connection (or the message), live delivery must come back
                if self._closed:
                    return
                log.warning("live relay connection lost (%s); resubscribing in %g s", exc, _RETRY_S)
                async with self._lock:
                    await self._drop(pubsub)
                await asyncio.sleep(_RETRY_S)

    def _handle(self, message: dict[str, Any]) -> None:
        # Unsubscribe confirmations are skipped: nobody waits for them.
        if message["type"] == "subscribe":
            self._confirm(_text(message["channel"]).removeprefix(self.prefix))
        elif message["type"] == "message":
            self._deliver(_text(message["channel"]).removeprefix(self.prefix), message["data"])

    def _confirm(self, channel: str) -> None:
        waiting = self._waiting.get(channel)
        if not waiting:
            return  # a resubscription redis-py made on its own, after reconnecting by itself
        confirmed = waiting.popleft()
        if not confirmed.done():
            confirmed.set_result(True)
        if not waiting:
            del self._waiting[channel]  # channels are per conversation: keep none that is done with

    def _deliver(self, channel: str, data: bytes | str) -> None:
        try:
            event = LiveEvent.decode(data)
        except (ValueError, TypeError) as exc:
            log.warning("undecodable live event on %s skipped: %s", channel, exc)
            return
        self.fanout.deliver(channel, event)
