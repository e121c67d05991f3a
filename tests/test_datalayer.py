"""Contract of our Chainlit data layer, run against SQLite and PostgreSQL alike: migrations, steps, and
failures (raised, transient ones retried).

Threads, elements and feedback are in test_datalayer_threads.py, file storage in test_datalayer_storage.py;
the fixtures in datalayer_fixtures.py.
"""

from __future__ import annotations

import logging
import uuid

import chainlit as cl
import pytest
from chainlit.context import ChainlitContext, context_var
from chainlit.session import HTTPSession
from chainlit.utils import utc_now
from literalai.observability.generation import ChatGeneration
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer import migrate
from agent.datalayer.errors import DataLayerError
from agent.datalayer.models import Base
from tests.datalayer_fixtures import database, deleted_threads, layer, no_database_env  # noqa: F401 (fixtures)
from tests.datalayer_fixtures import message, new_thread, new_user
from tests.postgres import PG_URL, pg_schema, private_schema, require_postgres  # noqa: F401 (fixture)

# Keys of Chainlit 2.12 step dicts that are deliberately not stored as sent: `feedback` is read from
# the feedbacks table (written through upsert_feedback), so a stale copy in a step dict is ignored.
NOT_STORED_STEP_KEYS = {"feedback"}


# --- migrations


async def test_migrations_create_every_table_and_rerun_as_a_no_op(database, tmp_path):
    url, _ = database
    if url.startswith("sqlite"):
        url, schema = f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'new.db'}", ""  # folder does not exist yet
        await migrate(url, schema)
        await migrate(url, schema)
        await _assert_schema_matches_models(url, schema)
    else:
        with private_schema() as schema:  # a schema that does not exist yet: migrate() creates it
            await migrate(url, schema)
            await migrate(url, schema)
            await _assert_schema_matches_models(url, schema)


async def _assert_schema_matches_models(url: str, schema: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from tools.store.sql import make_engine

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            if schema:  # compare the unqualified models against our schema, not `public`
                await conn.execute(text(f'SET search_path TO "{schema}"'))
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
            assert version == ["0004"]

            def diff(sync_conn):
                context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return compare_metadata(context, Base.metadata)

            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == [], "models.py and the migrations disagree"


# --- steps


async def test_every_field_chainlit_sends_for_steps_and_messages_round_trips(layer):
    user = await new_user(layer)
    thread_id = await new_thread(layer, user)

    step = cl.Step(
        name="search_knowledge", type="tool", thread_id=thread_id, parent_id=str(uuid.uuid4()),
        metadata={"source": "kb", "scores": [0.5, 0.25], "nested": {"a": None}}, tags=["rag", "kb"],
        language="python", icon="search", default_open=True, auto_collapse=True, show_input="python",
    )  # fmt: skip
    step.input = {"query": "refund policy", "top_k": 4}
    step.output = "Refunds take 5 days."
    step.is_error = True
    step.start, step.end = utc_now(), utc_now()
    step.generation = ChatGeneration(
        provider="openai", model="gpt-test", messages=[{"role": "user", "content": "hi"}],
        message_completion={"role": "assistant", "content": "hello"}, settings={"temperature": 0.2},
        tags=["gen"], input_token_count=3, output_token_count=2,
    )  # fmt: skip
    step_dict = dict(step.to_dict())
    assert {"autoCollapse", "defaultOpen", "showInput", "generation", "language"} <= step_dict.keys()

    # A real cl.Message carries the fields Step.to_dict() lacks: command, modes, waitForAnswer.
    token = context_var.set(ChainlitContext(HTTPSession(id="s", client_type="webapp", thread_id=thread_id)))
    try:
        msg = cl.Message(
            content="Where is my order?", author="Customer", type="user_message", command="track",
            modes={"model": "fast", "tone": "formal"}, metadata={"channel": "web"}, tags=["order"],
            created_at=utc_now(),
        )  # fmt: skip
        msg.wait_for_answer = True
        msg_dict = dict(msg.to_dict())
        await layer.create_step(msg_dict)  # inside a Chainlit HTTP context: written at once, not queued
    finally:
        context_var.reset(token)
    assert msg_dict["modes"] and msg_dict["command"] and msg_dict["waitForAnswer"] is True

    # Fields a newer Chainlit might add, and the StepDict keys neither to_dict() sends.
    step_dict |= {"icon": "search", "command": None, "modes": {"depth": "deep"}, "futureField": {"x": [1, 2]}}
    await layer.create_step(step_dict)

    stored = {s["id"]: s for s in (await layer.get_thread(thread_id))["steps"]}
    for original in (step_dict, msg_dict):
        got = stored[original["id"]]
        for key, value in original.items():
            if key in NOT_STORED_STEP_KEYS:
                continue
            assert key in got, f"{key} was not stored"
            assert got[key] == value, f"{key}: sent {value!r}, read back {got[key]!r}"


async def test_update_step_before_create_and_partial_updates_keep_other_fields(layer):
    thread_id = str(uuid.uuid4())  # no thread row yet: the step write must create it
    step = {"id": str(uuid.uuid4()), "threadId": thread_id, "type": "assistant_message", "name": "Assistant",
            "output": "Hel", "streaming": True, "metadata": {"k": 1}, "tags": ["t"],
            "createdAt": utc_now()}  # fmt: skip
    await layer.update_step(step)
    await layer.update_step(step)  # idempotent
    await layer.update_step({"id": step["id"], "threadId": thread_id, "output": "Hello", "streaming": False})

    thread = await layer.get_thread(thread_id)
    assert thread is not None and thread["userId"] is None
    [got] = thread["steps"]
    assert got["output"] == "Hello" and got["streaming"] is False
    assert (got["metadata"], got["tags"], got["type"]) == ({"k": 1}, ["t"], step["type"])
    assert got["createdAt"] == step["createdAt"]

    await layer.delete_step(step["id"])
    assert (await layer.get_thread(thread_id))["steps"] == []


async def test_writes_wait_for_the_first_user_message_like_chainlits_own_layers(layer):
    from chainlit.session import WebsocketSession

    thread_id = str(uuid.uuid4())
    session = object.__new__(WebsocketSession)  # only the two attributes Chainlit's queue reads
    session.has_first_interaction, session.thread_queues = False, {}
    token = context_var.set(ChainlitContext(session, emitter=object()))
    try:
        await layer.create_step({"id": str(uuid.uuid4()), "threadId": thread_id, "type": "assistant_message"})
    finally:
        context_var.reset(token)
    assert await layer.get_thread(thread_id) is None and len(session.thread_queues["create_step"]) == 1
    await session.flush_method_queue()  # what Chainlit runs after the first message
    assert len((await layer.get_thread(thread_id))["steps"]) == 1


async def test_conversation_messages_rebuild_memory_in_order(layer):
    thread_id = await new_thread(layer)
    await message(layer, thread_id, "Where is my order?")
    await message(layer, thread_id, "tool output", type="tool")
    await message(layer, thread_id, "It ships tomorrow.", type="assistant_message")
    await message(layer, thread_id, "Thanks!")
    assert await layer.conversation_messages(thread_id) == [
        ("user", "Where is my order?"), ("assistant", "It ships tomorrow."), ("user", "Thanks!"),
    ]  # fmt: skip


async def test_favorites_are_found_with_json_in_sql(layer):
    user = await new_user(layer)
    thread_id = await new_thread(layer, user)
    step = await message(layer, thread_id, "Keep this answer", type="assistant_message")
    await message(layer, thread_id, "not a favorite", type="assistant_message")
    await layer.set_step_favorite(dict(step), True)
    assert [s["id"] for s in await layer.get_favorite_steps(user.id)] == [step["id"]]
    await layer.set_step_favorite(dict(step), False)
    assert await layer.get_favorite_steps(user.id) == []


# --- failures are raised, transient ones retried


def _failing_execute(monkeypatch, failures: int | None) -> list[str]:
    """Make statements raise OperationalError `failures` times (None: always). Patched on the synchronous
    Connection: on SQLite transactions run whole on one (agent/datalayer/whole.py); AsyncConnection calls it too."""
    calls: list[str] = []
    real = Connection.execute

    def execute(self, statement, *args, **kwargs):
        calls.append(str(statement))
        if failures is None or len(calls) <= failures:
            raise OperationalError(str(statement), {}, Exception("server closed the connection unexpectedly"))
        return real(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "execute", execute)
    return calls


async def test_a_failing_write_is_retried_then_raised_and_logged_with_the_thread_id(layer, monkeypatch, caplog):
    thread_id = str(uuid.uuid4())
    calls = _failing_execute(monkeypatch, failures=None)
    with caplog.at_level(logging.WARNING, logger="agent.datalayer"), pytest.raises(DataLayerError) as raised:
        await layer.create_step({"id": str(uuid.uuid4()), "threadId": thread_id, "type": "user_message"})

    assert len(calls) == layer.write_retries  # each attempt died on its first statement
    assert raised.value.thread_id == thread_id and isinstance(raised.value.__cause__, OperationalError)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and thread_id in errors[0].getMessage()
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == layer.write_retries - 1
    monkeypatch.undo()
    assert await layer.get_thread(thread_id) is None  # nothing half-written


async def test_a_transient_failure_is_retried_and_the_write_lands(layer, monkeypatch, caplog):
    thread_id = str(uuid.uuid4())
    step = {"id": str(uuid.uuid4()), "threadId": thread_id, "type": "user_message", "output": "hi"}
    _failing_execute(monkeypatch, failures=1)
    with caplog.at_level(logging.WARNING, logger="agent.datalayer"):
        await layer.create_step(step)
    monkeypatch.undo()
    assert [s["output"] for s in (await layer.get_thread(thread_id))["steps"]] == ["hi"]
    assert any(thread_id in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


async def test_a_permanent_error_is_not_retried(layer, monkeypatch):
    real = Connection.execute
    calls = []

    def counting(self, statement, *args, **kwargs):
        calls.append(statement)
        return real(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "execute", counting)
    with pytest.raises(DataLayerError):  # foreign key: no such user (SQLite enforces it too)
        await layer.update_thread(str(uuid.uuid4()), user_id="no-such-user")
    assert len(calls) == 3  # insert, select, update: one attempt only


def test_postgres_is_available_for_the_contract_suite():
    # Makes a missing server visible as one skip (or a CI failure), not only as skipped parameters.
    require_postgres(PG_URL)
