"""Live delivery between the two sides of a taken-over conversation: the customer's chat and the human's page.

The customer's socket lives on one instance and the human's page may be served by another, so an event goes
out on a channel per conversation and side (`customer_channel`, `staff_channel`) and every instance with a
listener on that channel gets it. `MemoryRelay` does this inside one process; `RedisRelay`
(agent/sessions/redis_relay.py) across instances, over Redis pub/sub. Delivery is best effort: every event is
stored in the chat history before it is published, so a listener that was away reads it there.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

import orjson

from agent.sessions.errors import SessionError

# customer: the customer wrote; human: the staff member wrote; joined / left: a human took over or handed back.
EventKind = Literal["customer", "human", "joined", "left"]
LISTENER_BUFFER = 256  # events held for one slow listener; beyond that the oldest are dropped (they are stored)


@dataclass(frozen=True)
class LiveEvent:
    conversation_id: str
    kind: EventKind
    id: str  # the stored step's id: a listener that also reads the history shows it once
    author: str  # the name shown beside it
    text: str
    at: str  # ISO 8601, UTC
    staff: str | None = None  # the human's sign-in identifier, for human / joined / left

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def decode(cls, data: bytes | str) -> LiveEvent:
        return cls(**orjson.loads(data))


def customer_channel(conversation_id: str) -> str:
    """What the customer's chat shows: the human's messages and the joins and leaves."""
    return f"live:{conversation_id}:customer"


def staff_channel(conversation_id: str) -> str:
    """What the human's page shows: everything said in the conversation while it is open."""
    return f"live:{conversation_id}:staff"


class RelayUnavailable(SessionError):
    """The relay's backend (Redis) did not answer: the event is stored, but nobody was told live."""

    user_message = "Live delivery is unavailable right now; the message is saved and shown when the page reloads."


class Relay(Protocol):
    async def publish(self, channel: str, event: LiveEvent) -> int:
        """Send `event` to every listener of `channel`; how many instances (or, in memory, listeners) had one.
        Raises RelayUnavailable when the backend is down."""
        ...

    def listen(self, channel: str) -> AbstractAsyncContextManager[AsyncIterator[LiveEvent]]:
        """Events published on `channel` from now on, until the context exits."""
        ...

    async def close(self) -> None: ...


class Fanout:
    """Local listeners per channel, each with its own bounded queue; shared by both relays."""

    def __init__(self, buffer: int = LISTENER_BUFFER) -> None:
        self.buffer = buffer
        self.queues: dict[str, set[asyncio.Queue[LiveEvent]]] = {}

    def add(self, channel: str) -> tuple[asyncio.Queue[LiveEvent], bool]:
        """A new listener's queue, and whether it is the channel's first here."""
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(self.buffer)
        first = channel not in self.queues
        self.queues.setdefault(channel, set()).add(queue)
        return queue, first

    def remove(self, channel: str, queue: asyncio.Queue[LiveEvent]) -> bool:
        """Drop a listener; whether the channel has none left here."""
        listeners = self.queues.get(channel, set())
        listeners.discard(queue)
        if listeners:
            return False
        self.queues.pop(channel, None)
        return True

    def deliver(self, channel: str, event: LiveEvent) -> int:
        listeners = self.queues.get(channel, ())
        for queue in listeners:
            if queue.full():  # a stalled page must not hold the others up: it loses the oldest, kept in the history
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)
        return len(listeners)


class Subscription:
    """A listener's events. A plain iterator, not an async generator: a reader may wait on it with a timeout
    (`asyncio.wait_for(anext(events), ...)`), and a cancelled wait leaves it usable."""

    def __init__(self, queue: asyncio.Queue[LiveEvent]) -> None:
        self.queue = queue

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> LiveEvent:
        return await self.queue.get()


def drain(queue: asyncio.Queue[LiveEvent]) -> Subscription:
    return Subscription(queue)


class MemoryRelay:
    """One process: the same behaviour as Redis pub/sub for a single instance (and for tests)."""

    def __init__(self, buffer: int = LISTENER_BUFFER) -> None:
        self.fanout = Fanout(buffer)

    async def publish(self, channel: str, event: LiveEvent) -> int:
        return self.fanout.deliver(channel, event)

    @asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[AsyncIterator[LiveEvent]]:
        queue, _first = self.fanout.add(channel)
        try:
            yield drain(queue)
        finally:
            self.fanout.remove(channel, queue)

    async def close(self) -> None:
        self.fanout.queues.clear()
