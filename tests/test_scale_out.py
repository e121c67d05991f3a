"""Scale-out: two real `chainlit run app.py` instances behind no sticky load balancer share one Redis,
one PostgreSQL and one Chroma server, and a customer may hit either of them at any message.

- a conversation started on A is resumed on B with its memory and its uploads;
- two messages sent at the same moment to one conversation, through A and through B, are both
  answered, one turn after the other, and neither is lost from the shared memory;
- the per-customer rate limit is one budget across both instances.

Chats are driven over Chainlit's socket.io endpoint exactly as the page does (see tests/cluster.py).
Redis keys live under a prefix of their own and are deleted afterwards; the PostgreSQL schema is a
private one, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from tests.chroma_server import ChromaServer, chroma_server  # noqa: F401  (fixture)
from tests.cluster import AppInstance, ChatClient, InstanceStartError, Turn, login, run_instance
from tests.conftest import require
from tests.files import make_pdf
from tests.postgres import PG_URL, private_schema, require_postgres, run_sync

pytestmark = pytest.mark.server

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEMO_CUSTOMER = "dana@example.com"
RATE_BURST = 6
RATE_LIMITED = "You're sending messages faster than I can answer"

RETURNS_Q = "How long do I have to return an item?"
SHIPPING_Q = "How long does standard shipping take?"
CANCEL_Q = "Can I cancel my order?"


@dataclass
class Cluster:
    a: AppInstance
    b: AppInstance
    prefix: str
    fernet: Fernet
    schema: str
    demo_password: str

    def logs(self) -> str:
        return f"{self.a.log_tail()}\n{self.b.log_tail()}"

    async def state(self, thread_id: str) -> dict | None:
        """The conversation's shared state, read and decrypted straight from Redis."""
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            blob = await client.hget(f"{self.prefix}state:{thread_id}", "d")
        finally:
            await client.aclose()
        return None if blob is None else json.loads(self.fernet.decrypt(blob))


def _redis_reachable() -> str | None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # any reason means "not usable here"
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="module")
def cluster(chroma_server: ChromaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:  # noqa: F811
    error = _redis_reachable()
    require(error is None, f"Redis is not reachable at {REDIS_URL} ({error}); start it or set TEST_REDIS_URL")
    require_postgres()
    workdir = tmp_path_factory.mktemp("scale-out")
    prefix = f"test:{uuid.uuid4().hex}:"
    key = Fernet.generate_key()
    demo_password = "demo-" + secrets.token_urlsafe(12)
    try:
        with private_schema() as schema, contextlib.ExitStack() as instances:
            settings = {
                "SESSION_REDIS_URL": REDIS_URL,
                "SESSION_KEY_PREFIX": prefix,
                "SESSION_ENCRYPTION_KEYS": key.decode(),
                "SESSION_RATE_LIMIT_BURST": str(RATE_BURST),
                # One message a minute refills: a whole test cannot earn back a single message.
                "SESSION_RATE_LIMIT_PER_MINUTE": "1",
                "DATABASE_URL": PG_URL,
                "DATABASE_SCHEMA_NAME": schema,
                "DATABASE_STORAGE_DIR": str(workdir / "files"),  # one shared folder, as a shared volume would be
                "KNOWLEDGE_CHROMA_URL": chroma_server.url,
                "KNOWLEDGE_COLLECTION": f"kb-{uuid.uuid4().hex[:12]}",
                "KNOWLEDGE_STORE_DIR": str(workdir / "unused-local-chroma"),
                "AUTH_SECRET": secrets.token_urlsafe(48),
                "AUTH_DEMO_PASSWORD": demo_password,
                "AUTH_DEMO_CONVERSATIONS": "false",  # the demo would spend Dana's rate limit in the shared Redis
                # Sign-ins from 127.0.0.1 share one Redis budget across instances; the tests sign in often.
                "AUTH_LOGIN_BURST": "1000",
                "AUTH_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
            }
            try:
                # A first: it migrates the schema and ingests the help centre into the shared Chroma.
                a = instances.enter_context(run_instance("A", workdir / "a", settings))
                b = instances.enter_context(run_instance("B", workdir / "b", settings))
            except InstanceStartError as exc:
                pytest.fail(str(exc), pytrace=False)
            yield Cluster(a, b, prefix, Fernet(key), schema, demo_password)
    finally:
        delete_keys(prefix)


def delete_keys(prefix: str) -> None:
    """A test's own keys, under its own prefix: nothing else in the shared Redis is touched."""
    client = redis.Redis.from_url(REDIS_URL)
    with contextlib.suppress(redis.RedisError):
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    client.close()


async def new_customer(cluster: Cluster) -> tuple[str, str]:
    """A customer of this test alone, so each test has its own rate-limit budget."""
    from agent.users import create_user

    identifier, password = f"customer-{uuid.uuid4().hex[:10]}@example.com", secrets.token_urlsafe(12)
    await asyncio.to_thread(run_sync, create_user(PG_URL, identifier, password, "customer", "Test customer",
                                                  schema=cluster.schema))
    return identifier, password


@contextlib.asynccontextmanager
async def chat(instance: AppInstance, token: str, thread_id: str | None = None):
    client = ChatClient(instance, token, thread_id=thread_id)
    try:
        await client.connect()
        yield client
    finally:
        await client.close()


def answered(turn: Turn, needle: str, where: str, cluster: Cluster) -> str:
    text = turn.reply_text
    assert needle in text, (
        f"{where}: expected {needle!r} in the reply {text!r}\nevents:\n{turn.summary()}\n{cluster.logs()}")
    return text


def conversation_pairs(state: dict) -> list[tuple[str, str]]:
    messages = state["messages"]
    roles = [m["role"] for m in messages]
    assert roles == ["user", "assistant"] * (len(messages) // 2), f"messages do not alternate: {roles}"
    return [(messages[i]["content"], messages[i + 1]["content"]) for i in range(0, len(messages), 2)]


async def thread_visible(instance: AppInstance, token: str, thread_id: str, timeout: float = 30) -> dict:
    """GET /project/thread/<id> on `instance` until it answers: the thread row is in the shared database."""
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(base_url=instance.base_url, cookies={"access_token": token}, timeout=30) as http:
        while True:
            response = await http.get(f"/project/thread/{thread_id}")
            if response.status_code == 200:
                return response.json()
            assert asyncio.get_running_loop().time() < deadline, (
                f"thread {thread_id} not visible on {instance.name}: {response.status_code} {response.text[:200]}\n"
                f"{instance.log_tail()}")
            await asyncio.sleep(0.2)


async def test_conversation_and_upload_continue_on_the_other_instance(cluster: Cluster) -> None:
    # One sign-in on A; the cookie also opens B (one AUTH_SECRET, one user table).
    token = await login(cluster.a, DEMO_CUSTOMER, cluster.demo_password)

    async with chat(cluster.a, token) as on_a:
        first = await on_a.ask(RETURNS_Q)
        answered(first, "30 days", "first question on A", cluster)
        thread_id = await on_a.wait_thread_id()
        state = await cluster.state(thread_id)
        assert state is not None, f"no Redis state for thread {thread_id} after a turn on A\n{cluster.logs()}"
        assert [m["role"] for m in state["messages"]] == ["user", "assistant"], state

        await thread_visible(cluster.b, token, thread_id)
        async with chat(cluster.b, token, thread_id=thread_id) as on_b:
            second = await on_b.ask(SHIPPING_Q)
            answered(second, "business days", "second question on B", cluster)

            state = await cluster.state(thread_id)
            pairs = conversation_pairs(state)
            assert [q for q, _ in pairs] == [RETURNS_Q, SHIPPING_Q], (
                f"B did not continue A's memory: {pairs}\n{cluster.logs()}")
            assert "30 days" in pairs[0][1] and "business days" in pairs[1][1], pairs
            assert state["id"] == thread_id and state["user_id"] == DEMO_CUSTOMER, state
            # B loaded A's state from Redis; it did not fall back to rebuilding it from the database.
            assert f"rebuilt conversation {thread_id}" not in cluster.b.log_text(), cluster.b.log_tail()

            # A file attached on A is searchable from B: shared state (the uploads list) and shared Chroma.
            invoice_no = secrets.randbelow(90000) + 10000
            name = f"invoice-{invoice_no}.pdf"
            pdf = make_pdf([[f"Larkspur Goods - Invoice {invoice_no}", "Vortex blender, serial number VX-5521-B."],
                            ["Extended protection plan: the blender is covered until 14 March 2031."]])
            file_id = await on_a.upload(name, pdf, "application/pdf")
            attached = await on_a.ask("Here is my invoice.", file_ids=(file_id,))
            notes = [m.get("output") or "" for m in attached.assistant_messages]
            assert any(f"I've read **{name}**" in note for note in notes), (
                f"A did not read the upload: {notes}\n{attached.summary()}\n{cluster.logs()}")
            assert (await cluster.state(thread_id))["uploads"] == [name]

            about = await on_b.ask("Until when is my blender covered by the protection plan?")
            reply = answered(about, "14 March 2031", "question about A's upload, asked on B", cluster)
            assert name in reply, f"the reply does not cite {name}: {reply!r}"

    state = await cluster.state(thread_id)
    assert len(state["messages"]) == 8, [m["content"][:60] for m in state["messages"]]


async def watch_lock(key: str, stop: asyncio.Event, watching: asyncio.Event) -> list[tuple[float, str | None]]:
    """Poll the conversation's Redis lock every few ms; the value changes at every acquire and release.

    `watching` is set once the first look is done: from then on no acquire can go unseen.
    """
    client = aioredis.Redis.from_url(REDIS_URL)
    changes: list[tuple[float, str | None]] = []
    last: object = object()
    try:
        while True:
            stopping = stop.is_set()  # one more look after the stop: the last release may be fresh
            value = await client.get(key)
            value = value.decode() if value is not None else None
            if value != last:
                changes.append((time.monotonic(), value))  # the clients' clock
                last = value
            watching.set()
            if stopping:
                break
            await asyncio.sleep(0.003)
    finally:
        await client.aclose()
    return changes


async def test_simultaneous_messages_through_both_instances_are_serialized(cluster: Cluster) -> None:
    identifier, password = await new_customer(cluster)
    token = await login(cluster.b, identifier, password)

    async with chat(cluster.a, token) as on_a:
        answered(await on_a.ask(RETURNS_Q), "30 days", "opening question on A", cluster)
        thread_id = await on_a.wait_thread_id()
        await thread_visible(cluster.b, token, thread_id)
        async with chat(cluster.b, token, thread_id=thread_id) as on_b:
            stop, watching = asyncio.Event(), asyncio.Event()
            watcher = asyncio.create_task(watch_lock(f"{cluster.prefix}lock:{thread_id}", stop, watching))
            # Send only once the watcher has looked once, so both acquires will be seen (or its error surfaces).
            looked = asyncio.ensure_future(watching.wait())
            await asyncio.wait({looked, watcher}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
            looked.cancel()
            if watcher.done():
                watcher.result()
            assert watching.is_set(), f"the lock watcher took no first look within 10 s\n{cluster.logs()}"
            # Both emitted at once, on the same thread, one through each instance.
            sent = await asyncio.gather(on_a.send(SHIPPING_Q), on_b.send(CANCEL_Q))
            turn_a, turn_b = await asyncio.gather(on_a.collect_turn(), on_b.collect_turn())
            stop.set()
            changes = await watcher

    context = (f"\nA events:\n{turn_a.summary()}\nB events:\n{turn_b.summary()}\nlock changes: {changes}\n"
               f"{cluster.logs()}")
    answered(turn_a, "business days", "shipping question on A", cluster)
    assert RATE_LIMITED not in turn_b.reply_text, context
    assert "cancel" in turn_b.reply_text.lower(), f"cancel question on B: {turn_b.reply_text!r}{context}"

    # Both messages reached their instance before either turn produced anything: they really raced.
    started = [turn_a.times("task_start")[0], turn_b.times("task_start")[0]]
    first_output = min(turn_a.work_span[0], turn_b.work_span[0])
    assert max(sent) - min(sent) < 0.5 and max(started) < first_output, f"the messages did not race{context}"

    # ... and the turns ran one after the other: the later one's first output follows the earlier one's last.
    earlier, later = sorted([turn_a, turn_b], key=lambda t: t.work_span[0])
    assert earlier.work_span[1] <= later.work_span[0], f"the two turns overlapped{context}"

    # The lock was taken twice, by two different holders, and released in between (never shared);
    # the later turn's output only began once the first holder had let go.
    holders = [value for _, value in changes if value is not None]
    assert len(holders) == 2 and holders[0] != holders[1], f"expected two successive lock holders{context}"
    assert changes[-1][1] is None, f"the lock was not released{context}"
    first_held = next(i for i, (_, value) in enumerate(changes) if value == holders[0])
    handover = changes[first_held + 1][0]  # first seen free (or already re-taken): at or after the release
    assert later.work_span[0] > handover, f"the later turn answered before the first lock holder let go{context}"

    # Nothing lost: the opening pair, then both new pairs, each answer right after its own question.
    pairs = conversation_pairs(await cluster.state(thread_id))
    assert pairs[0][0] == RETURNS_Q, pairs
    order = [SHIPPING_Q, CANCEL_Q] if earlier is turn_a else [CANCEL_Q, SHIPPING_Q]
    assert [q for q, _ in pairs[1:]] == order, f"lost or misordered turns: {pairs}{context}"
    for question, answer in pairs[1:]:
        needle = "business days" if question == SHIPPING_Q else "cancel"
        assert needle in answer.lower(), f"answer to {question!r} is {answer!r}"


async def test_rate_limit_is_shared_by_the_instances(cluster: Cluster) -> None:
    identifier, password = await new_customer(cluster)
    token = await login(cluster.b, identifier, password)

    async with chat(cluster.a, token) as on_a, chat(cluster.b, token) as on_b:
        clients = [on_a, on_b]
        turns = []
        for i in range(RATE_BURST + 1):  # A, B, A, B, ...: A alone sees only 4 of the 7 messages
            turns.append(await clients[i % 2].ask(SHIPPING_Q))

    for i, turn in enumerate(turns[:RATE_BURST]):
        answered(turn, "business days", f"message {i + 1} of {RATE_BURST} (on {'AB'[i % 2]})", cluster)
    last = turns[-1]
    assert RATE_LIMITED in last.reply_text, (
        f"message {RATE_BURST + 1} (on A, its 4th) was not limited: {last.reply_text!r}\n{last.summary()}\n"
        f"{cluster.logs()}")
    assert not last.streamed, "a rate-limited message must not run a turn"
    bucket = redis.Redis.from_url(REDIS_URL).hgetall(f"{cluster.prefix}rate:{identifier}")
    assert bucket and float(bucket[b"tokens"]) < 1, bucket
