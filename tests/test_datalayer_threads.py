"""Contract of our Chainlit data layer, run against SQLite and PostgreSQL alike: threads (ownership, paging,
search, deletion), elements and feedback.
"""

from __future__ import annotations

import re
import uuid

import chainlit as cl
import pytest
from chainlit.types import Feedback, Pagination, ThreadFilter
from fastapi import HTTPException
from sqlalchemy import event, func, select

from agent.datalayer.errors import DataLayerError, ThreadOwnershipError
from agent.datalayer.store_rows import feedbacks
from tests.datalayer_fixtures import chat_store, database, deleted_threads, layer, no_database_env  # noqa: F401
from tests.datalayer_fixtures import message, new_thread, new_user, sql_seen
from tests.postgres import pg_schema  # noqa: F401 (fixture)

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
    # On a SQLite file transactions run on the store's synchronous engine (agent/datalayer/whole.py).
    engine = layer.sqlite_file or layer.engine.sync_engine
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

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


async def test_a_batch_of_steps_writes_all_but_another_threads_id_and_then_names_it(chat_store):
    """The chat service writes an action's messages in one transaction; a client-chosen id that is already
    another conversation's step must neither overwrite it nor cost this conversation its other messages."""
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())

    def said(step_id: str, thread_id: str, text: str) -> dict:
        return {"id": step_id, "threadId": thread_id, "type": "user_message", "output": text}

    await chat_store.upsert_step(said("alice-1", alice, "my address is 1 Main St"))
    with pytest.raises(ThreadOwnershipError, match="alice-1"):
        await chat_store.upsert_steps([said("bob-1", bob, "hello"), said("alice-1", bob, "hacked"),
                                       {**said("bob-2", bob, "Hi Bob"), "type": "assistant_message"}])
    assert await chat_store.conversation_messages(bob) == [("user", "hello"), ("assistant", "Hi Bob")]
    assert await chat_store.conversation_messages(alice) == [("user", "my address is 1 Main St")]
    with pytest.raises(DataLayerError, match="one thread"):
        await chat_store.upsert_steps([said("bob-3", bob, "a"), said("alice-2", alice, "b")])


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


# --- steps of a thread this process knows


async def test_steps_of_a_known_thread_do_not_insert_its_row_again(layer):
    thread_id = str(uuid.uuid4())
    await message(layer, thread_id, "first")  # makes the thread's empty row
    seen = sql_seen(layer)
    await message(layer, thread_id, "second")
    assert not [s for s in seen if re.search(r"insert into \S*\bthreads\b", s)], seen  # PostgreSQL: schema.threads
    assert [m["output"] for m in (await layer.get_thread(thread_id))["steps"]] == ["first", "second"]


async def test_a_step_for_a_thread_deleted_elsewhere_makes_the_thread_again(layer, database, tmp_path):
    # Another instance deletes the thread this one knows; the next step fails the foreign key, then lands.
    from agent.web.datalayer import SQLDataLayer
    from agent.datalayer.storage import LocalStorage

    url, schema = database
    other = SQLDataLayer(url, LocalStorage(tmp_path / "files"), schema=schema, retry_wait_s=0)
    try:
        thread_id = str(uuid.uuid4())
        await message(layer, thread_id, "first")
        await other.delete_thread(thread_id)
        await message(layer, thread_id, "again")
        thread = await layer.get_thread(thread_id)
        assert thread is not None and [m["output"] for m in thread["steps"]] == ["again"]
    finally:
        await other.close()


async def test_a_step_for_a_thread_deleted_here_makes_the_thread_again_at_once(layer, caplog):
    thread_id = str(uuid.uuid4())
    await message(layer, thread_id, "first")
    await layer.delete_thread(thread_id)
    await message(layer, thread_id, "again")
    assert [m["output"] for m in (await layer.get_thread(thread_id))["steps"]] == ["again"]
    assert "create_step" not in caplog.text, "no failed first attempt"
