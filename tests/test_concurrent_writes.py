"""Concurrent writes: step writes queued while one commits share the next transaction, a bad write failing only its
caller; on SQLite a store's writing transactions share one transaction, run whole in a worker thread, and reads do
not wait for them."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid

import pytest

from sqlalchemy import text

from agent.datalayer import migrate
from agent.datalayer.errors import ThreadOwnershipError
from agent.datalayer.group_commit import GroupCommit
from tests.datalayer_fixtures import (  # noqa: F401 (fixtures)
    database, deleted_threads, layer, message, new_thread, no_database_env,
)
from tests.postgres import pg_schema  # noqa: F401 (fixture)


class Writes:
    """A write that takes a moment, as a transaction does; records each batch; refuses "bad"."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def __call__(self, items):
        self.batches.append(list(items))
        await asyncio.sleep(0.01)
        if "bad" in items:
            raise ValueError("bad write")
        return [item.upper() for item in items]


async def test_writes_arriving_during_a_commit_share_the_next_one():
    writes = Writes()
    group = GroupCommit(writes)
    first = asyncio.ensure_future(group.submit("w0"))
    await asyncio.sleep(0)  # "w0" is being committed
    results = [await first, *await asyncio.gather(*(group.submit(f"w{n}") for n in range(1, 10)))]
    assert results == [f"W{n}" for n in range(10)]
    assert writes.batches[0] == ["w0"], "alone, the first write goes at once"
    assert len(writes.batches) == 2 and sorted(writes.batches[1]) == [f"w{n}" for n in range(1, 10)]


async def test_a_failing_write_fails_only_its_caller():
    writes = Writes()
    group = GroupCommit(writes)
    first = asyncio.ensure_future(group.submit("first"))
    await asyncio.sleep(0)  # "first" is being committed; the next three queue behind it
    results = await asyncio.gather(group.submit("a"), group.submit("bad"), group.submit("b"), return_exceptions=True)
    assert await first == "FIRST"
    assert results[0] == "A" and results[2] == "B"
    assert isinstance(results[1], ValueError)
    assert ["a", "bad", "b"] in writes.batches, "tried together first"


async def test_a_cancelled_caller_does_not_cancel_the_others_transaction():
    writes = Writes()
    group = GroupCommit(writes)
    first = asyncio.ensure_future(group.submit("first"))
    await asyncio.sleep(0)
    gone, kept = asyncio.ensure_future(group.submit("gone")), asyncio.ensure_future(group.submit("kept"))
    await asyncio.sleep(0)
    gone.cancel()
    assert await first == "FIRST" and await kept == "KEPT"
    assert ["gone", "kept"] in writes.batches, "the cancelled caller's write still landed"


async def test_many_threads_steps_land_in_fewer_transactions_than_writes(layer, monkeypatch):
    threads = [await new_thread(layer) for _ in range(8)]
    transactions = []
    real = layer.transaction

    async def counted(operation, thread_id, fn, **options):
        transactions.append(operation)
        return await real(operation, thread_id, fn, **options)

    monkeypatch.setattr(layer, "transaction", counted)
    written = await asyncio.gather(*(message(layer, thread_id, f"message {n}")
                                     for n in range(3) for thread_id in threads))
    assert transactions.count("create_step") < len(written) / 2
    for thread_id in threads:
        assert [text for _, text in await layer.conversation_messages(thread_id)] == [
            f"message {n}" for n in range(3)]


async def test_a_step_of_another_thread_in_a_shared_transaction_refuses_only_that_write(layer):
    mine, theirs = await new_thread(layer), await new_thread(layer)
    taken = await message(layer, theirs, "theirs")
    forged = {"id": taken["id"], "threadId": mine, "type": "user_message", "name": "x", "output": "forged"}
    fine = {"id": str(uuid.uuid4()), "threadId": mine, "type": "user_message", "name": "x", "output": "fine"}
    results = await asyncio.gather(layer.upsert_steps([fine]), layer.upsert_steps([forged]),
                                   return_exceptions=True)
    assert results[0] is None and isinstance(results[1], ThreadOwnershipError)
    assert [text for _, text in await layer.conversation_messages(theirs)] == ["theirs"]
    assert [text for _, text in await layer.conversation_messages(mine)] == ["fine"]


async def test_sqlite_writers_take_turns_in_the_process_and_readers_do_not_wait(tmp_path):
    """On a SQLite file each transaction runs whole in a worker thread (agent/datalayer/whole.py)."""
    from agent.datalayer.storage import LocalStorage
    from agent.datalayer.store import ChatStore

    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    await migrate(url, "")
    store = ChatStore(url, LocalStorage(tmp_path / "files"))
    overlap = {"now": 0, "most": 0}
    guard = threading.Lock()

    async def slow(conn) -> None:
        with guard:
            overlap["now"] += 1
            overlap["most"] = max(overlap["most"], overlap["now"])
        await conn.execute(text("SELECT 1"))
        time.sleep(0.05)  # a transaction still busy while the others arrive
        with guard:
            overlap["now"] -= 1

    try:
        await asyncio.gather(*(store.transaction("write", None, slow) for _ in range(4)))
        assert overlap["most"] == 1
        overlap["most"] = 0
        await asyncio.gather(*(store.transaction("read", None, slow, writes=False) for _ in range(4)))
        assert overlap["most"] > 1
    finally:
        await store.close()


async def test_a_transaction_body_that_awaits_anything_but_its_connection_is_a_developer_mistake(tmp_path):
    from agent.datalayer.storage import LocalStorage
    from agent.datalayer.store import ChatStore
    from agent.errors import ConfigurationError

    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    await migrate(url, "")
    store = ChatStore(url, LocalStorage(tmp_path / "files"))

    async def waits(conn) -> None:
        await asyncio.sleep(0)  # a suspension: the transaction would wait on an event loop from a worker thread

    try:
        with pytest.raises(ConfigurationError, match="awaited something besides its connection"):
            await store.transaction("wrong", None, waits)
    finally:
        await store.close()


async def test_sqlite_writes_queued_during_a_commit_share_the_next_transaction_each_in_its_savepoint(tmp_path):
    """Every writing transaction of a store on a SQLite file queues for the next shared one (not only steps): one
    thread call, one BEGIN; a body that fails undoes its own writes and fails its caller, the others commit."""
    from sqlalchemy import event

    from agent.datalayer.errors import DataLayerError
    from agent.datalayer.storage import LocalStorage
    from agent.datalayer.store import ChatStore

    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    await migrate(url, "")
    store = ChatStore(url, LocalStorage(tmp_path / "files"))

    async def table(conn) -> None:
        await conn.execute(text("CREATE TABLE notes (body TEXT PRIMARY KEY)"))

    def note(body: str, slow: bool = False, fails: bool = False):
        async def write(conn) -> None:
            await conn.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})
            if slow:
                time.sleep(0.05)  # the others arrive while this one commits
            if fails:
                raise ValueError("this write is refused after its insert")

        return write

    try:
        await store.transaction("table", None, table)
        begins = []
        event.listen(store.sqlite_file, "begin", lambda conn: begins.append(1))
        first = asyncio.create_task(store.transaction("note", None, note("first", slow=True)))
        await asyncio.sleep(0.02)  # committing in its worker thread now
        writes = [note("a"), note("bad", fails=True), note("b"), note("c")]
        results = await asyncio.gather(*(store.transaction("note", None, w) for w in writes), return_exceptions=True)
        assert await first is None
        assert [results[0], results[2], results[3]] == [None] * 3
        assert isinstance(results[1], DataLayerError) and "refused" in str(results[1])
        assert len(begins) == 2, "the first alone, the four that queued meanwhile together"

        async def read(conn) -> list[str]:
            return [row.body for row in await conn.execute(text("SELECT body FROM notes ORDER BY body"))]

        assert await store.transaction("read", None, read, writes=False) == ["a", "b", "c", "first"]
    finally:
        await store.close()


async def test_a_shared_sqlite_transaction_commits_once_at_its_end(tmp_path):
    """pysqlite would commit at the release of each write's savepoint; the shared transaction is one transaction:
    another connection sees none of its writes until all of them are in."""
    import sqlite3

    from agent.datalayer.storage import LocalStorage
    from agent.datalayer.store import ChatStore

    path = tmp_path / "app.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url, "")
    store = ChatStore(url, LocalStorage(tmp_path / "files"))
    seen: list[int] = []

    async def table(conn) -> None:
        await conn.execute(text("CREATE TABLE notes (body TEXT PRIMARY KEY)"))

    async def insert(conn) -> None:
        await conn.execute(text("INSERT INTO notes (body) VALUES ('x')"))

    async def look(conn) -> None:  # the next write of the same shared transaction
        with sqlite3.connect(path) as other:
            seen.append(other.execute("SELECT count(*) FROM notes").fetchone()[0])

    try:
        await store.transaction("table", None, table)
        await asyncio.gather(store.transaction("insert", None, insert), store.transaction("look", None, look))
        assert seen == [0]
    finally:
        await store.close()
