"""One contract suite for both live relays (MemoryRelay, RedisRelay), plus Redis-specific guarantees.

The Redis side talks to the real redis-server on 127.0.0.1:6379 under a channel prefix of its own (pub/sub
stores nothing, so nothing is left to delete); the restart test kills and restarts a Redis of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis

from agent.sessions.redis_relay import RedisRelay
from agent.sessions.redis_store import connect
from agent.sessions.relay import LiveEvent, MemoryRelay, Relay, RelayUnavailable
from tests.conftest import require
from tests.loopback_cluster import REDIS_SERVER, run_redis
from tests.test_sessions import REDIS_URL, redis_available  # noqa: F401 (fixture)
from tests.waiting import eventually

BUFFER = 4  # small, so the slow-listener test overflows it with a handful of events
EVENT_TIMEOUT_S = 5.0  # an event published to a subscribed channel arrives well within this
RESTART_TIMEOUT_S = 20.0  # the reader's retry pause, a reconnect and a resubscription, on a busy machine
LINK_DELAY_S = 0.1  # what the slow link adds to every chunk: far more than a PUBLISH over loopback takes
CHUNK = 65536  # bytes the slow link reads at a time
EVENT = LiveEvent(conversation_id="c1", kind="human", id="step-1", author="Ana", text="Hello, I'm here.",
                  at="2026-11-20T10:00:00+00:00", staff="ana@example.com")


def event(n: int) -> LiveEvent:
    return replace(EVENT, id=f"step-{n}", text=f"message {n}")


async def next_event(events: AsyncIterator[LiveEvent]) -> LiveEvent:
    return await asyncio.wait_for(anext(events), EVENT_TIMEOUT_S)


@asynccontextmanager
async def slow_link(port: int) -> AsyncIterator[int]:
    """A loopback proxy to the Redis on `port` that holds every chunk LINK_DELAY_S, in order: a far-away Redis."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(CHUNK):
                await asyncio.sleep(LINK_DELAY_S)
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def forward(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer),
                             return_exceptions=True)

    server = await asyncio.start_server(forward, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def prefix(redis_available) -> str:  # noqa: F811 (the fixture imported above)
    return f"test:{uuid.uuid4().hex}:"


@pytest.fixture(params=["memory", "redis"])
async def make_relay(request) -> AsyncIterator[Callable[[], Relay]]:
    """Each call is one more app instance: a RedisRelay on a client of its own, or the one MemoryRelay."""
    made: list[Relay] = []

    def make() -> Relay:
        if request.param == "memory":
            relay = made[0] if made else MemoryRelay(BUFFER)  # one process: every "instance" shares it
        else:
            relay = RedisRelay(connect(REDIS_URL), prefix=request.getfixturevalue("prefix"), buffer=BUFFER)
        made.append(relay)
        return relay

    yield make
    for relay in {id(r): r for r in made}.values():
        await relay.close()


def per_instance(relay: Relay, listeners: int) -> int:
    """What publish returns for `listeners` listeners in one instance: Redis counts instances, memory listeners."""
    return 1 if isinstance(relay, RedisRelay) else listeners


async def test_publishing_with_no_listener_reaches_nobody(make_relay):
    relay = make_relay()
    assert await relay.publish("live:c1:customer", EVENT) == 0


async def test_a_listener_receives_events_in_order(make_relay):
    relay = make_relay()
    async with relay.listen("live:c1:customer") as events:
        for n in range(3):
            assert await relay.publish("live:c1:customer", event(n)) == 1
        assert [await next_event(events) for _ in range(3)] == [event(0), event(1), event(2)]


async def test_a_listener_gets_only_what_is_published_after_it_joined(make_relay):
    relay = make_relay()
    assert await relay.publish("live:c1:customer", event(0)) == 0
    async with relay.listen("live:c1:customer") as events:
        await relay.publish("live:c1:customer", event(1))
        assert await next_event(events) == event(1)


async def test_two_listeners_on_one_channel_both_receive(make_relay):
    relay = make_relay()
    async with relay.listen("live:c1:staff") as first, relay.listen("live:c1:staff") as second:
        assert await relay.publish("live:c1:staff", EVENT) == per_instance(relay, 2)
        assert await next_event(first) == EVENT
        assert await next_event(second) == EVENT


async def test_channels_are_isolated(make_relay):
    relay = make_relay()
    async with relay.listen("live:c1:customer") as customer:
        assert await relay.publish("live:c1:staff", event(1)) == 0
        assert await relay.publish("live:c2:customer", event(2)) == 0
        await relay.publish("live:c1:customer", event(3))
        assert await next_event(customer) == event(3), "the other channels' events never reach it"


async def test_nobody_is_counted_once_the_last_listener_left(make_relay):
    relay = make_relay()
    channel = "live:c1:customer"
    async with relay.listen(channel):
        async with relay.listen(channel):
            pass
        assert await relay.publish(channel, EVENT) == 1, "one listener is still there"

    async def nobody() -> bool:  # Redis unsubscribes in the background of the listener leaving
        return await relay.publish(channel, EVENT) == 0

    await eventually(nobody, "publish counts no listener after the last one left")


async def test_an_event_published_on_one_instance_reaches_a_listener_on_another(make_relay):
    sender, receiver = make_relay(), make_relay()
    async with receiver.listen("live:c1:customer") as events:
        assert await sender.publish("live:c1:customer", EVENT) == 1
        assert await next_event(events) == EVENT


async def test_a_slow_listener_keeps_the_newest_events(make_relay):
    relay = make_relay()
    channel = "live:c1:staff"
    async with relay.listen(channel) as slow, relay.listen(channel) as fast:
        sent = [event(n) for n in range(BUFFER * 2)]
        for item in sent:
            await relay.publish(channel, item)
            # Once the fast listener has it, so does the slow one's queue: both are filled by one delivery.
            assert await next_event(fast) == item
        assert [await next_event(slow) for _ in range(BUFFER)] == sent[-BUFFER:]
        await relay.publish(channel, EVENT)
        assert await next_event(slow) == EVENT, "nothing older was left in the slow listener's queue"


async def test_one_redis_connection_carries_every_listener_of_an_instance(prefix):
    name = f"relay-{uuid.uuid4().hex}"
    relay = RedisRelay(aioredis.Redis.from_url(REDIS_URL, client_name=name), prefix=prefix)
    observer = connect(REDIS_URL)
    try:
        async with relay.listen("live:c1:customer"), relay.listen("live:c1:customer"), relay.listen("live:c2:staff"):
            subscribers = [c for c in await observer.client_list() if c["name"] == name and int(c["sub"])]
            assert [int(c["sub"]) for c in subscribers] == [2], "one connection, subscribed to both channels"
    finally:
        await relay.close()
        await observer.aclose()


async def test_listen_returns_only_once_redis_has_subscribed(prefix):
    """The listener's instance is far from Redis, the sender's near: an event sent right after must still arrive."""
    sender = RedisRelay(connect(REDIS_URL), prefix=prefix)
    async with slow_link(urlsplit(REDIS_URL).port) as port:
        receiver = RedisRelay(connect(f"redis://127.0.0.1:{port}/0"), prefix=prefix)
        try:
            async with receiver.listen("live:c1:customer") as events:
                assert await sender.publish("live:c1:customer", EVENT) == 1
                assert await next_event(events) == EVENT
        finally:
            await receiver.close()
            await sender.close()


async def test_an_undecodable_message_is_skipped(prefix, caplog):
    relay = RedisRelay(connect(REDIS_URL), prefix=prefix)
    try:
        async with relay.listen("live:c1:customer") as events:
            for garbage in (b"not json", b"[1, 2]", b'{"unknown": "field"}'):
                await relay.client.publish(f"{prefix}live:c1:customer", garbage)
            await relay.publish("live:c1:customer", EVENT)
            assert await next_event(events) == EVENT, "the reader survived the bad messages"
        assert caplog.text.count("undecodable live event") == 3
    finally:
        await relay.close()


async def test_listeners_survive_a_redis_restart(tmp_path):
    require(Path(REDIS_SERVER).exists(), f"redis-server is not installed at {REDIS_SERVER} (apt-get install redis)")
    with run_redis(tmp_path / "redis") as server:
        relay = RedisRelay(connect(server.url), prefix="test:")  # a Redis of its own: no one else to collide with
        try:
            async with relay.listen("live:c1:customer") as events:
                server.kill()
                with pytest.raises(RelayUnavailable):
                    await relay.publish("live:c1:customer", EVENT)
                async with relay.listen("live:c2:customer") as joined_while_down:
                    server.start()  # same port, empty: the channels must be subscribed again

                    async def delivered() -> bool:
                        counts = [await relay.publish(f"live:{c}:customer", EVENT) for c in ("c1", "c2")]
                        return counts == [1, 1]

                    await eventually(delivered, "both listeners subscribed again", timeout=RESTART_TIMEOUT_S)
                    assert await next_event(events) == EVENT
                    assert await next_event(joined_while_down) == EVENT
        finally:
            await relay.close()
