"""What every part of ChatStore shares: the engine, one retried transaction per call, retried file-storage
calls, and the two helpers several parts need (the thread row a first write creates, an element as a dict).
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from cachetools import LRUCache
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agent.datalayer.db import run_with_retries
from agent.datalayer.group_commit import GroupCommit
from agent.datalayer.storage import Storage
from agent.datalayer.store_rows import ELEMENT_COLUMNS, threads
from agent.datalayer.whole import run_whole
from tools.settings import DatabaseSettings
from tools.store.sql import dialect_insert, make_engine, make_sqlite_file_engine, utcnow

T = TypeVar("T")

ThreadDeletedHook = Callable[[str], Awaitable[None] | None]
Body = Callable[[AsyncConnection], Awaitable[Any]]  # a transaction's body


@dataclass(frozen=True)
class _Failed:
    """A body of a shared SQLite transaction that failed: its caller raises `exc`, the others commit."""

    exc: Exception


class StoreBase:
    def __init__(
        self,
        url: str,
        storage: Storage,
        *,
        schema: str = "",
        echo: bool = False,
        write_retries: int = 3,
        retry_wait_s: float = 0.05,
        max_page_size: int = 100,
        on_thread_deleted: ThreadDeletedHook | None = None,
        engine: AsyncEngine | None = None,
        sqlite_threads: int = 8,
        known_conversations: int = DatabaseSettings.model_construct().known_conversations,
    ) -> None:
        self.engine = engine or make_engine(url, schema, echo)
        self.sqlite_file = make_sqlite_file_engine(self.engine.url, echo, sqlite_threads)
        # Its own threads: behind embedding and routing calls in asyncio's default pool, a read would wait for them.
        self._sqlite_threads = ThreadPoolExecutor(sqlite_threads, thread_name_prefix="sqlite")
        self.storage = storage
        self.write_retries = write_retries
        self.retry_wait_s = retry_wait_s
        self.max_page_size = max_page_size
        self.on_thread_deleted = on_thread_deleted
        self._write_group: GroupCommit[Body, object] | None = None  # made on first use
        # Conversations whose facts row this process has seen, and their owner (agent/datalayer/facts.py).
        self._facts_owners: LRUCache[str, str | None] = LRUCache(maxsize=known_conversations)
        # Threads this process wrote steps to (agent/datalayer/store_steps.py); a set, as an LRU's keys.
        self._threads_known: LRUCache[str, None] = LRUCache(maxsize=known_conversations)

    def _sqlite_writes(self) -> GroupCommit[Body, object]:
        """On a SQLite file, this store's writing transactions queue here and run together: every body queued while
        one batch commits goes into the next, each in its own savepoint, in one worker-thread call. SQLite has one
        writer; one transaction per body made each write wait a round trip through the event loop (busy with a
        hundred chats) for every write before it, three to four per turn. SQLite's lock still keeps other
        processes' writes apart."""
        if self._write_group is None:
            self._write_group = GroupCommit(self._write_bodies)
        return self._write_group

    async def _write_bodies(self, bodies: Sequence[Body]) -> list[object]:
        engine = self.sqlite_file
        assert engine is not None  # only SQLite files queue their writes

        def whole() -> list[object]:
            with engine.begin() as conn:
                if len(bodies) == 1:  # alone, its failure fails the transaction as before
                    return [run_whole(bodies[0], conn)]
                outcomes: list[object] = []
                for body in bodies:
                    try:
                        with conn.begin_nested():  # a failing body undoes only its own writes
                            outcomes.append(run_whole(body, conn))
                    except Exception as exc:  # handed to its caller, who retries or reports it
                        outcomes.append(_Failed(exc))
                return outcomes

        return await asyncio.get_running_loop().run_in_executor(self._sqlite_threads, whole)

    async def transaction(
        self, operation: str, thread_id: str | None, fn: Callable[[AsyncConnection], Awaitable[T]], *,
        writes: bool = True,
    ) -> T:
        """`fn` in one transaction, retried when the failure is transient. On a SQLite file it runs whole in one
        worker-thread call (agent/datalayer/whole.py); `writes=False` marks one that only reads, which need not
        wait for the writers there (WAL lets it read beside them)."""
        engine = self.sqlite_file
        if engine is not None and writes:
            async def attempt() -> T:
                outcome = await self._sqlite_writes().submit(fn)
                if isinstance(outcome, _Failed):
                    raise outcome.exc
                return outcome  # type: ignore[return-value]
        elif engine is not None:
            def whole() -> T:
                with engine.begin() as conn:
                    return run_whole(fn, conn)

            async def attempt() -> T:
                return await asyncio.get_running_loop().run_in_executor(self._sqlite_threads, whole)
        else:
            async def attempt() -> T:
                async with self.engine.begin() as conn:
                    return await fn(conn)

        return await run_with_retries(
            operation, thread_id, attempt, attempts=self.write_retries, wait_s=self.retry_wait_s
        )

    async def _storage_call(self, operation: str, thread_id: str | None, fn: Callable[[], T]) -> T:
        async def attempt() -> T:
            return await asyncio.to_thread(fn)

        return await run_with_retries(
            operation, thread_id, attempt, attempts=self.write_retries, wait_s=self.retry_wait_s
        )

    async def close(self) -> None:
        await self.engine.dispose()
        if self.sqlite_file is not None:
            self.sqlite_file.dispose()
        self._sqlite_threads.shutdown(wait=False)

    async def _ensure_thread(self, conn: AsyncConnection, thread_id: str) -> None:
        now = utcnow()
        values = {"id": thread_id, "metadata": {}, "created_at": now, "updated_at": now}
        await conn.execute(_thread_stub(conn.dialect.name), values)

    def _element_dict(self, row: Any) -> dict[str, Any]:
        m = row._mapping
        element = {"id": m["id"], "threadId": m["thread_id"]}
        element |= {key: m[column] for key, column in ELEMENT_COLUMNS.items()}
        if m["object_key"]:
            element["url"] = self.storage.url(m["object_key"])  # fresh each read: S3 links expire
        return element


@functools.cache
def owned_upsert(dialect: str, table: Any, changed: tuple[str, ...]) -> Any:
    """The upsert by id of a row that belongs to a thread (a step, an element), for one set of changed columns,
    built once: a statement's `excluded` rebuilds a proxy of every column each time it is built, which cost a tenth
    of the event loop's time under 100 chats. The values go in as parameters. A known id only updates inside its
    own thread (ids are client-chosen for user messages); the returned row says the write landed; with nothing to
    change, a known id returns nothing."""
    stmt = dialect_insert(dialect, table)
    excluded = stmt.excluded
    if not changed:
        return stmt.on_conflict_do_nothing(index_elements=["id"]).returning(table.c.thread_id)
    return stmt.on_conflict_do_update(
        index_elements=["id"], set_={k: excluded[k] for k in changed}, where=table.c.thread_id == excluded.thread_id
    ).returning(table.c.thread_id)


@functools.cache
def _thread_stub(dialect: str) -> Any:
    """The empty thread row a step or a facts row may need first, built once (see `owned_upsert`); each step
    write runs it."""
    return dialect_insert(dialect, threads).on_conflict_do_nothing(index_elements=["id"])
