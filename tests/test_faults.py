"""Faults survived, with real processes (#13): a real `chainlit run app.py`, its own Redis, PostgreSQL, and an
OpenAI-compatible model server that fails on cue (tests/faulty_llm.py).

Each fault ends with the app alive, a clear message to the customer, and every message the customer sent,
with a reply, in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from cryptography.fernet import Fernet

from agent.errors import ModelError
from tests.chainlit_server import DEMO_PASSWORD
from tests.cluster import TURN_TIMEOUT_S, AppInstance, ChatClient, InstanceStartError, login, run_instance
from tests.conftest import require
from tests.faulty_llm import Cut, FaultyOpenAI, Silence, Slow, Status, Trickle
from tests.loopback_cluster import REDIS_SERVER, RedisServer, run_redis
from tests.postgres import PG_URL, dsn, private_schema, require_postgres, run_sync
from tests.postgres_server import PostgresServer, PostgresStartError, run_postgres
from tests.postgres_server import available as postgres_available

pytestmark = pytest.mark.server

ANSWER = "Our return window is 30 days from delivery for most items."
TIMEOUT_S = 2.0
RETRIES = 1
RETRY_AFTER_S = 2
MODEL_THINKS_S = 4.0  # long enough to restart PostgreSQL inside the turn
STREAM_WORD_S = 0.2  # a 60-word reply streams for 12 s: the instance dies in the middle of it


@dataclass
class App:
    instance: AppInstance
    model: FaultyOpenAI
    redis: RedisServer
    schema: str
    db_url: str = PG_URL
    token: str = ""
    other: AppInstance | None = None  # a second instance on the same Redis and database


def _settings(work: Path, model: FaultyOpenAI, redis: RedisServer, db_url: str, schema: str) -> dict[str, str]:
    return model.env(TIMEOUT_S, RETRIES) | {
        "SESSION_REDIS_URL": redis.url,
        "SESSION_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": db_url,
        "DATABASE_SCHEMA_NAME": schema,
        "DATABASE_STORAGE_DIR": str(work / "files"),
        "KNOWLEDGE_STORE_DIR": str(work / "chroma"),
        "AUTH_SECRET": secrets.token_urlsafe(48),
        "AUTH_DEMO_PASSWORD": DEMO_PASSWORD,
        "AUTH_DEMO_CONVERSATIONS": "false",
        "SESSION_RATE_LIMIT_BURST": "100",
    }


@contextlib.contextmanager
def _app(work: Path, model: FaultyOpenAI, redis: RedisServer, db_url: str, schema: str,
         instances: int = 1) -> Iterator[App]:
    settings = _settings(work, model, redis, db_url, schema)
    try:
        with contextlib.ExitStack() as stack:
            started = [stack.enter_context(run_instance(name, work / name, settings)) for name in "AB"[:instances]]
            app = App(started[0], model, redis, schema, db_url, other=started[1] if instances > 1 else None)
            app.token = run_sync(login(started[0], "dana@example.com", DEMO_PASSWORD))
            yield app
    except InstanceStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def model() -> Iterator[FaultyOpenAI]:
    server = FaultyOpenAI(ANSWER)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def app(model: FaultyOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    require(Path(REDIS_SERVER).exists(), f"redis-server is not installed at {REDIS_SERVER} (apt-get install redis)")
    require_postgres()
    work = tmp_path_factory.mktemp("faults")
    with run_redis(work / "redis") as redis, private_schema() as schema:
        with _app(work, model, redis, PG_URL, schema, instances=2) as a:
            yield a


@pytest.fixture(scope="module")
def own_postgres(model: FaultyOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[App, PostgresServer]]:
    """The app on a PostgreSQL server of the test's own, which the test restarts."""
    require(Path(REDIS_SERVER).exists(), f"redis-server is not installed at {REDIS_SERVER} (apt-get install redis)")
    reason = postgres_available()
    require(reason is None, f"a private PostgreSQL cannot run here: {reason}")
    work = tmp_path_factory.mktemp("faults-pg")
    try:
        with run_redis(work / "redis") as redis, run_postgres(work / "postgres") as server:
            with _app(work, model, redis, server.url, "support") as a:
                yield a, server
    except PostgresStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@contextlib.asynccontextmanager
async def chat(app: App):
    client = ChatClient(app.instance, app.token)
    try:
        await client.connect()
        yield client
    finally:
        await client.close()


async def _messages(app: App, thread_id: str) -> list[tuple[str, str]]:
    """(type, text) of the thread's messages in the database, oldest first."""
    connection = await asyncpg.connect(dsn(app.db_url))
    try:
        rows = await connection.fetch(
            f'SELECT type, output FROM "{app.schema}".steps WHERE thread_id = $1 AND type LIKE $2 '
            "ORDER BY created_at", thread_id, "%message")
    finally:
        await connection.close()
    return [(r["type"], r["output"] or "") for r in rows]


async def _nothing_lost(app: App, client: ChatClient, said: list[str]) -> list[str]:
    """Every message the customer sent is stored, each followed by a stored reply; returns the replies."""
    thread_id = await client.wait_thread_id()
    for _ in range(50):  # the reply is written as the turn ends; give the last write a moment
        stored = await _messages(app, thread_id)
        if sum(kind == "assistant_message" for kind, _ in stored) >= len(said):
            break
        await asyncio.sleep(0.2)
    users = [text for kind, text in stored if kind == "user_message"]
    assert users == said, stored
    kinds = [kind for kind, _ in stored]
    for i, kind in enumerate(kinds):
        if kind == "user_message":
            assert "assistant_message" in kinds[i + 1:i + 2], f"no stored reply after message {i}: {stored}"
    return [text for kind, text in stored if kind == "assistant_message"]


def _model_message(kind: str) -> str:
    return ModelError(kind).user_message


async def test_model_500s_get_a_clear_message_and_the_next_message_is_answered(app: App) -> None:
    app.model.faults[:] = [Status(500)] * (RETRIES + 1)
    async with chat(app) as client:
        failed = await client.ask("How long is your return window?")
        assert _model_message("unavailable") in failed.reply_text, failed.summary()
        answered = await client.ask("And how long is the return window for electronics?")
        assert ANSWER in answered.reply_text, answered.summary()
        await _nothing_lost(app, client, ["How long is your return window?",
                                          "And how long is the return window for electronics?"])


async def test_a_429_is_retried_after_the_time_the_server_asks_for(app: App) -> None:
    app.model.faults[:] = [Status(429, retry_after_s=RETRY_AFTER_S)]
    app.model.served.clear()
    async with chat(app) as client:
        turn = await client.ask("Is the return window the same for sale items?")
        assert ANSWER in turn.reply_text, turn.summary()
        await _nothing_lost(app, client, ["Is the return window the same for sale items?"])
    (limited_at, limited), (retried_at, retried) = app.model.served[:2]
    assert (limited, retried) == ("Status", "answer")
    assert retried_at - limited_at >= RETRY_AFTER_S * 0.95, "the retry came before Retry-After"


async def test_a_model_that_never_answers_times_out_with_a_clear_message(app: App) -> None:
    app.model.faults[:] = [Silence(TIMEOUT_S + 2)] * (RETRIES + 1)
    async with chat(app) as client:
        turn = await client.ask("What is your return window for shoes?")
        assert _model_message("timeout") in turn.reply_text or _model_message("unavailable") in turn.reply_text, (
            turn.summary())
        again = await client.ask("What is your return window for shoes, please?")
        assert ANSWER in again.reply_text, again.summary()
        await _nothing_lost(app, client, ["What is your return window for shoes?",
                                          "What is your return window for shoes, please?"])


async def test_a_stream_cut_halfway_keeps_what_was_said_and_says_it_stopped(app: App) -> None:
    long_answer = " ".join(f"word{i}" for i in range(40))
    app.model.faults[:] = [Cut(long_answer)]
    async with chat(app) as client:
        turn = await client.ask("Tell me everything about returns")
        said = [m.get("output") or "" for m in turn.assistant_messages]
        assert any("word0" in text and "word39" not in text for text in said), turn.summary()
        assert any(_model_message("unavailable") in text or _model_message("bad_response") in text
                   for text in said), turn.summary()
        replies = await _nothing_lost(app, client, ["Tell me everything about returns"])
    assert any("word0" in text for text in replies), "the part the customer saw is stored"


async def test_redis_killed_mid_conversation_then_restarted(app: App) -> None:
    async with chat(app) as client:
        first = await client.ask("What is the return window?")
        assert ANSWER in first.reply_text, first.summary()
        app.redis.kill()
        try:
            during = await client.ask("Is it the same for gifts?")
            # Rate limits fail open and the turn runs on state rebuilt from the stored history.
            assert ANSWER in during.reply_text, during.summary()
        finally:
            app.redis.start()
        after = await client.ask("And for sale items?")
        assert ANSWER in after.reply_text, after.summary()
        await _nothing_lost(app, client, ["What is the return window?", "Is it the same for gifts?",
                                          "And for sale items?"])
    assert app.instance.process.poll() is None, app.instance.log_tail()


async def test_an_instance_killed_mid_stream_the_customer_resumes_on_the_other(app: App) -> None:
    """Runs last of the tests on `app`: it kills the first instance."""
    assert app.other is not None
    words = " ".join(f"part{i}" for i in range(60))
    app.model.faults[:] = [Trickle(words, STREAM_WORD_S)]
    client = ChatClient(app.instance, app.token)
    await client.connect()
    try:
        await client.send("Explain the whole return process, please")
        await client._until(("stream_token",), TURN_TIMEOUT_S)  # the reply is streaming
        thread_id = await client.wait_thread_id()
        os.killpg(app.instance.process.pid, signal.SIGKILL)
        app.instance.process.wait(timeout=10)
    finally:
        with contextlib.suppress(Exception):
            await client.close()

    resumed = ChatClient(app.other, app.token, thread_id=thread_id)
    await resumed.connect()
    try:
        turn = await resumed.ask("Sorry, I lost you. What is the return window?")
        assert ANSWER in turn.reply_text, turn.summary()
        assert resumed.thread_id == thread_id, "the same conversation, not a new one"
        stored = await _messages(app, thread_id)
    finally:
        await resumed.close()
    users = [text for kind, text in stored if kind == "user_message"]
    assert users == ["Explain the whole return process, please", "Sorry, I lost you. What is the return window?"], stored


async def test_postgres_restarted_mid_turn(own_postgres: tuple[App, PostgresServer]) -> None:
    app, server = own_postgres
    app.model.faults[:] = [Slow(MODEL_THINKS_S)]
    async with chat(app) as client:
        asked = asyncio.create_task(client.ask("What is the return window?"))
        await asyncio.sleep(MODEL_THINKS_S / 3)  # the customer's message is stored; the model is still thinking
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(server.start)
        turn = await asked
        assert ANSWER in turn.reply_text, turn.summary()  # the pool reconnects to the restarted server
        after = await client.ask("Is it the same for gifts?")
        assert ANSWER in after.reply_text, after.summary()
        await _nothing_lost(app, client, ["What is the return window?", "Is it the same for gifts?"])
    assert app.instance.process.poll() is None, app.instance.log_tail()
