"""Contract of our Chainlit data layer, run against SQLite and PostgreSQL alike.

Storage tests (path traversal, S3) need no database and run once.
"""

from __future__ import annotations

import logging
import os
import uuid

import chainlit as cl
import pytest
from chainlit.context import ChainlitContext, context_var
from chainlit.session import HTTPSession
from chainlit.types import Feedback, Pagination, ThreadFilter
from chainlit.utils import utc_now
from fastapi import HTTPException
from literalai.observability.generation import ChatGeneration
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer import migrate
from agent.datalayer.errors import DataLayerError, StorageKeyError, ThreadOwnershipError
from agent.web.datalayer import SQLDataLayer
from agent.datalayer.models import Base
from agent.datalayer.storage import LocalStorage, S3Storage
from agent.datalayer.store import feedbacks
from tests.postgres import PG_URL, pg_schema, private_schema, require_postgres  # noqa: F401 (fixture)

# Keys of Chainlit 2.12 step dicts that are deliberately not stored as sent: `feedback` is read from
# the feedbacks table (written through upsert_feedback), so a stale copy in a step dict is ignored.
NOT_STORED_STEP_KEYS = {"feedback"}


@pytest.fixture(autouse=True)
def no_database_env(monkeypatch):
    # conftest clears the other setting groups; the developer's DATABASE_* must not leak in either.
    for name in [n for n in os.environ if n.startswith("DATABASE_")]:
        monkeypatch.delenv(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> tuple[str, str]:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", ""
    return request.getfixturevalue("pg_schema")


@pytest.fixture
def deleted_threads() -> list[str]:
    return []


@pytest.fixture
async def layer(database, tmp_path, deleted_threads):
    url, schema = database
    await migrate(url, schema)  # fresh on SQLite; on PostgreSQL a no-op re-run over the session schema

    async def on_thread_deleted(thread_id: str) -> None:
        deleted_threads.append(thread_id)

    data_layer = SQLDataLayer(
        url,
        LocalStorage(tmp_path / "files"),
        schema=schema,
        write_retries=3,
        retry_wait_s=0,
        on_thread_deleted=on_thread_deleted,
    )
    yield data_layer
    await data_layer.close()


async def new_user(layer: SQLDataLayer, name: str = "customer"):
    return await layer.create_user(cl.User(identifier=f"{name}-{uuid.uuid4().hex[:8]}@example.com"))


async def new_thread(layer: SQLDataLayer, user=None, name: str = "A question") -> str:
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, name=name, user_id=user.id if user else None)
    return thread_id


async def message(layer, thread_id, text, type="user_message"):
    step = {"id": str(uuid.uuid4()), "threadId": thread_id, "type": type, "name": "x", "output": text,
            "createdAt": utc_now(), "metadata": {}}  # fmt: skip
    await layer.create_step(step)
    return step


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
            assert version == ["0001"]

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


# --- threads


async def test_thread_tags_and_metadata_are_stored_and_merged(layer):
    user = await new_user(layer)
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, metadata={"chat_profile": "Support", "env": {"a": [1, 2]}})
    await layer.update_thread(thread_id, name="Refunds", user_id=user.id, tags=["vip", "returns"])
    await layer.update_thread(thread_id, metadata={"env": None, "is_shared": True})  # None deletes a key

    thread = await layer.get_thread(thread_id)
    assert thread["tags"] == ["vip", "returns"]
    assert thread["metadata"] == {"chat_profile": "Support", "is_shared": True}
    assert (thread["name"], thread["userId"], thread["userIdentifier"]) == ("Refunds", user.id, user.identifier)
    assert thread["createdAt"].endswith("Z")


async def test_chainlit_user_records_never_take_a_role_from_metadata(layer):
    user = await layer.create_user(cl.User(identifier="mallory@example.com", metadata={"role": "admin", "x": 1}))
    again = await layer.create_user(cl.User(identifier="mallory@example.com", display_name="M", metadata={"y": 2}))
    assert user.metadata == {"x": 1, "role": "customer"}
    assert again.id == user.id and again.metadata == {"x": 1, "y": 2, "role": "customer"}
    assert (await layer.get_user("mallory@example.com")).display_name == "M"
    assert await layer.get_user("nobody@example.com") is None


async def test_list_threads_pages_with_cursors(layer):
    user, other = await new_user(layer), await new_user(layer, "other")
    ids = [await new_thread(layer, user, name=f"Thread {i}") for i in range(7)]
    await new_thread(layer, other)
    created = {i: (await layer.get_thread(i))["createdAt"] for i in ids}
    expected = sorted(ids, key=lambda i: (created[i], i), reverse=True)  # created_at desc, then id desc

    pages, cursor = [], None
    for _ in range(3):
        page = await layer.list_threads(Pagination(first=3, cursor=cursor), ThreadFilter(userId=user.id))
        pages.append(page)
        cursor = page.pageInfo.endCursor
    assert [[t["id"] for t in p.data] for p in pages] == [expected[:3], expected[3:6], expected[6:]]
    assert [p.pageInfo.hasNextPage for p in pages] == [True, True, False]
    assert [(p.pageInfo.startCursor, p.pageInfo.endCursor) for p in pages] == [
        (expected[0], expected[2]), (expected[3], expected[5]), (expected[6], expected[6]),
    ]  # fmt: skip
    assert pages[0].data[0]["userIdentifier"] == user.identifier
    assert pages[0].to_dict()["pageInfo"]["hasNextPage"] is True  # what the server sends the page


async def test_list_threads_filters_and_searches_in_sql(layer):
    user, other = await new_user(layer), await new_user(layer, "other")
    refund = await new_thread(layer, user, name="Refund for my blender")
    serial = await new_thread(layer, user, name="Warranty")
    await message(layer, serial, "Your serial VX-5521 is covered until 2031.", type="assistant_message")
    rated = await new_thread(layer, user, name="Shipping")
    good = await message(layer, rated, "Ships tomorrow", type="assistant_message")
    await layer.upsert_feedback(Feedback(forId=good["id"], value=1))
    bad = await message(layer, refund, "Refunds take 5 days", type="assistant_message")
    await layer.upsert_feedback(Feedback(forId=bad["id"], value=0))
    await new_thread(layer, other, name="Refund for someone else")

    statements: list[str] = []
    event.listen(layer.engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    async def ids(**filters):
        page = await layer.list_threads(Pagination(first=20), ThreadFilter(userId=user.id, **filters))
        return {t["id"] for t in page.data}

    assert await ids() == {refund, serial, rated}
    assert await ids(search="REFUND") == {refund}  # case-insensitive, and never the other user's thread
    assert await ids(search="vx-5521") == {serial}  # found in a step output
    assert await ids(search="100%") == set()  # % is literal, not a wildcard
    assert await ids(feedback=1) == {rated}
    assert await ids(feedback=0) == {refund}
    assert await ids(search="ships", feedback=1) == {rated}
    sql = " ".join(statements).upper()
    assert ("ILIKE" if layer.engine.dialect.name == "postgresql" else "LIKE LOWER(") in sql
    assert "LIMIT" in sql


async def test_another_user_cannot_read_resume_take_or_delete_a_thread(layer, monkeypatch):
    from chainlit.data import acl

    alice, bob = await new_user(layer, "alice"), await new_user(layer, "bob")
    thread_id = await new_thread(layer, alice)
    step = await message(layer, thread_id, "my address is 1 Main St")

    assert await layer.get_thread_author(thread_id) == alice.identifier
    assert await layer.is_owner(thread_id, alice.identifier)
    assert not await layer.is_owner(thread_id, bob.identifier)
    assert await layer.thread_owner(str(uuid.uuid4())) is None
    assert await layer.get_thread_author(str(uuid.uuid4())) == ""

    # Chainlit's own check, used by the get/resume/rename/delete/share routes.
    monkeypatch.setattr(acl, "get_data_layer", lambda: layer)
    assert await acl.is_thread_author(alice.identifier, thread_id) is True
    with pytest.raises(HTTPException) as refused:
        await acl.is_thread_author(bob.identifier, thread_id)
    assert refused.value.status_code == 401
    with pytest.raises(HTTPException) as unknown:
        await acl.is_thread_author(bob.identifier, str(uuid.uuid4()))
    assert unknown.value.status_code == 404
    ownerless = await new_thread(layer)  # e.g. created by a step before login: nobody may open it
    with pytest.raises(HTTPException):
        await acl.is_thread_author(bob.identifier, ownerless)

    # Bob cannot claim Alice's thread, nor overwrite her step by reusing its id in his thread.
    with pytest.raises(ThreadOwnershipError):
        await layer.update_thread(thread_id, user_id=bob.id)
    with pytest.raises(ThreadOwnershipError):
        await layer.create_step({**step, "threadId": await new_thread(layer, bob), "output": "hacked"})
    thread = await layer.get_thread(thread_id)
    assert thread["userIdentifier"] == alice.identifier and thread["steps"][0]["output"] == "my address is 1 Main St"
    page = await layer.list_threads(Pagination(first=10), ThreadFilter(userId=bob.id))
    assert thread_id not in {t["id"] for t in page.data}


async def test_delete_thread_removes_children_files_and_calls_the_hook(layer, tmp_path, deleted_threads):
    user = await new_user(layer)
    thread_id, kept = await new_thread(layer, user), await new_thread(layer, user)
    step = await message(layer, thread_id, "see attachment")
    await layer.create_element(cl.File(name="r.txt", content=b"receipt", thread_id=thread_id, for_id=step["id"]))
    await layer.upsert_feedback(Feedback(forId=step["id"], value=1, threadId=thread_id))
    kept_step = await message(layer, kept, "other thread")
    assert list((tmp_path / "files").rglob("*"))

    await layer.delete_thread(thread_id)

    assert await layer.get_thread(thread_id) is None
    assert deleted_threads == [thread_id]
    assert not [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
    async with layer.engine.connect() as conn:
        query = select(func.count()).select_from(feedbacks).where(feedbacks.c.for_id == step["id"])
        assert (await conn.execute(query)).scalar() == 0
    assert [s["id"] for s in (await layer.get_thread(kept))["steps"]] == [kept_step["id"]]


# --- elements and feedback


async def test_elements_store_their_bytes_through_storage(layer, tmp_path):
    thread_id = await new_thread(layer, await new_user(layer))
    step = await message(layer, thread_id, "attached", type="assistant_message")
    attachment = tmp_path / "manual.pdf"
    attachment.write_bytes(b"%PDF-1.4 fake")
    ids = {"thread_id": thread_id, "for_id": step["id"]}
    sent = [
        cl.Text(name="[1] Returns", content="Return within 30 days.", language="markdown", display="side", **ids),
        cl.Pdf(name="manual.pdf", path=str(attachment), page=3, mime="application/pdf", **ids),
        cl.Audio(name="a.mp3", content=b"ID3", auto_play=True, mime="audio/mpeg", **ids),
        cl.Video(name="v.mp4", url="https://cdn.example/v.mp4", player_config={"muted": True}, **ids),
        cl.CustomElement(name="Card", props={"title": "Order 42", "items": [1, 2]}, **ids),
    ]
    for element in sent:
        await layer.create_element(element)
        await layer.create_element(element)  # Chainlit may send an element twice: idempotent

    for element in sent:
        got = await layer.get_element(thread_id, element.id)
        for key, value in element.to_dict().items():
            if key not in ("url", "objectKey"):
                assert got[key] == value, key
        if element.url:  # already hosted: nothing uploaded
            assert (got["url"], got["objectKey"]) == (element.url, None)
        else:
            expected = element.content if element.content is not None else attachment.read_bytes()
            expected = expected.encode() if isinstance(expected, str) else expected
            assert got["objectKey"] and got["url"] == layer.storage.url(got["objectKey"])
            assert layer.storage.read(got["objectKey"]) == expected
            assert (await layer.element_file(thread_id, element.id))[0] == expected

    assert len((await layer.get_thread(thread_id))["elements"]) == len(sent)
    assert await layer.get_element(str(uuid.uuid4()), sent[0].id) is None  # ids only count in their thread
    key = (await layer.get_element(thread_id, sent[0].id))["objectKey"]
    await layer.delete_element(sent[0].id, thread_id)
    assert await layer.get_element(thread_id, sent[0].id) is None
    with pytest.raises(DataLayerError):
        layer.storage.read(key)


async def test_feedback_upsert_update_and_delete(layer):
    thread_id = await new_thread(layer, await new_user(layer))
    step = await message(layer, thread_id, "answer", type="assistant_message")

    feedback_id = await layer.upsert_feedback(Feedback(forId=step["id"], value=1, comment="great"))
    [got] = (await layer.get_thread(thread_id))["steps"]
    assert got["feedback"] == {"forId": step["id"], "id": feedback_id, "value": 1, "comment": "great"}

    assert await layer.upsert_feedback(Feedback(forId=step["id"], value=0, id=feedback_id)) == feedback_id
    assert await layer.upsert_feedback(Feedback(forId=step["id"], value=0, comment="meh")) == feedback_id
    [got] = (await layer.get_thread(thread_id))["steps"]
    assert (got["feedback"]["value"], got["feedback"]["comment"]) == (0, "meh")

    assert await layer.delete_feedback(feedback_id) is True
    assert await layer.delete_feedback(feedback_id) is False
    assert (await layer.get_thread(thread_id))["steps"][0]["feedback"] is None


async def test_ratings_lead_to_their_conversation(layer):
    """What the /feedback routes check ownership against: the rated step's thread, even if a client lies."""
    thread_id = await new_thread(layer, await new_user(layer))
    other_thread = await new_thread(layer, await new_user(layer))
    step = await message(layer, thread_id, "answer", type="assistant_message")
    assert await layer.step_thread(step["id"]) == thread_id
    assert await layer.step_thread(str(uuid.uuid4())) is None

    feedback_id = await layer.upsert_feedback(Feedback(forId=step["id"], value=1, threadId=other_thread))
    assert await layer.feedback_thread(feedback_id) == thread_id
    assert await layer.feedback_thread(str(uuid.uuid4())) is None
    early = await layer.upsert_feedback(Feedback(forId=str(uuid.uuid4()), value=0, threadId=other_thread))
    assert await layer.feedback_thread(early) == other_thread  # a step not saved yet: the thread given


# --- failures are raised, transient ones retried


def _failing_execute(monkeypatch, failures: int | None) -> list[str]:
    """Make AsyncConnection.execute raise OperationalError `failures` times (None: always)."""
    calls: list[str] = []
    real = AsyncConnection.execute

    async def execute(self, statement, *args, **kwargs):
        calls.append(str(statement))
        if failures is None or len(calls) <= failures:
            raise OperationalError(str(statement), {}, Exception("server closed the connection unexpectedly"))
        return await real(self, statement, *args, **kwargs)

    monkeypatch.setattr(AsyncConnection, "execute", execute)
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
    real = AsyncConnection.execute
    calls = []

    async def counting(self, statement, *args, **kwargs):
        calls.append(statement)
        return await real(self, statement, *args, **kwargs)

    monkeypatch.setattr(AsyncConnection, "execute", counting)
    with pytest.raises(DataLayerError):  # foreign key: no such user (SQLite enforces it too)
        await layer.update_thread(str(uuid.uuid4()), user_id="no-such-user")
    assert len(calls) == 3  # insert, select, update: one attempt only


# --- storage (no database)


def test_local_storage_round_trip_and_urls(tmp_path):
    storage = LocalStorage(tmp_path / "root", base_url="/files/")
    assert storage.upload("threads/t1/e 1", b"data", "text/plain") == "/files/threads/t1/e%201"
    assert storage.read("threads/t1/e 1") == b"data"
    storage.delete("threads/t1/e 1")
    storage.delete("threads/t1/e 1")  # missing is fine
    with pytest.raises(DataLayerError):
        storage.read("threads/t1/e 1")


@pytest.mark.parametrize(
    "key", ["../x", "/etc/passwd", "a/../../x", "a/./b", "a//b", "", "a\\..\\b", "C:/x", "a/b/", "nul\x00"]
)
def test_local_storage_refuses_keys_outside_its_root(tmp_path, key):
    storage = LocalStorage(tmp_path / "root")
    for call in (lambda: storage.upload(key, b"x", "text/plain"), lambda: storage.read(key),
                 lambda: storage.delete(key), lambda: storage.url(key)):  # fmt: skip
        with pytest.raises(StorageKeyError):
            call()
    assert not (tmp_path / "x").exists()


def test_local_storage_refuses_symlinks_that_escape(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "dir").symlink_to(outside, target_is_directory=True)
    (root / "file").symlink_to(outside / "secret")
    storage = LocalStorage(root)
    with pytest.raises(StorageKeyError):
        storage.read("dir/secret")
    with pytest.raises(StorageKeyError):
        storage.read("file")
    with pytest.raises(StorageKeyError):
        storage.upload("dir/new", b"x", "text/plain")
    with pytest.raises(StorageKeyError):
        storage.delete("file")
    assert (outside / "secret").read_bytes() == b"secret" and not (outside / "new").exists()


async def test_browser_chosen_thread_ids_never_become_paths(tmp_path):
    data_layer = SQLDataLayer(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", LocalStorage(tmp_path / "files"))
    try:
        key = data_layer.object_key("../../etc", "passwd")
        assert ".." not in key and key.startswith("threads/") and key.endswith("/passwd")
    finally:
        await data_layer.close()


class FakeS3:
    def __init__(self):
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket, Key, Body, ContentType):  # noqa: N803 (boto3 names)
        self.objects[Bucket, Key] = Body

    def get_object(self, Bucket, Key):  # noqa: N803
        import io

        return {"Body": io.BytesIO(self.objects[Bucket, Key])}

    def delete_object(self, Bucket, Key):  # noqa: N803
        self.objects.pop((Bucket, Key), None)

    def generate_presigned_url(self, operation, Params, ExpiresIn):  # noqa: N803
        return f"https://s3.example/{Params['Bucket']}/{Params['Key']}?expires={ExpiresIn}"


def test_s3_storage_calls_the_boto3_api_with_prefixed_checked_keys():
    client = FakeS3()
    storage = S3Storage("bucket", prefix="support/", client=client, url_expiry_s=60)
    url = storage.upload("threads/t/e", b"x", "text/plain")
    assert url == "https://s3.example/bucket/support/threads/t/e?expires=60"
    assert client.objects == {("bucket", "support/threads/t/e"): b"x"}
    assert storage.read("threads/t/e") == b"x"
    storage.delete("threads/t/e")
    assert client.objects == {}
    with pytest.raises(StorageKeyError):
        storage.upload("../t", b"x", "text/plain")


def test_s3_storage_with_real_boto3():
    boto3 = pytest.importorskip("boto3", reason="boto3 is optional (only for DATABASE_S3_BUCKET) and not installed")
    from botocore.stub import Stubber

    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    storage = S3Storage("bucket", client=client)
    with Stubber(client) as stub:
        put = {"Bucket": "bucket", "Key": "a/b", "Body": b"x", "ContentType": "text/plain"}
        stub.add_response("put_object", {}, put)
        stub.add_response("delete_object", {}, {"Bucket": "bucket", "Key": "a/b"})
        url = storage.upload("a/b", b"x", "text/plain")
        storage.delete("a/b")
        stub.assert_no_pending_responses()
    assert url.startswith("https://bucket.s3.amazonaws.com/a/b?") and "Signature" in url


def test_postgres_is_available_for_the_contract_suite():
    # Makes a missing server visible as one skip (or a CI failure), not only as skipped parameters.
    require_postgres(PG_URL)
