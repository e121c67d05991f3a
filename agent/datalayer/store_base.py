"""What every part of ChatStore shares: the engine, one retried transaction per call, retried file-storage
calls, and the two helpers several parts need (the thread row a first write creates, an element as a dict).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agent.datalayer.db import run_with_retries
from agent.datalayer.storage import Storage
from agent.datalayer.store_rows import ELEMENT_COLUMNS, threads
from tools.store.sql import insert, make_engine, utcnow

T = TypeVar("T")

ThreadDeletedHook = Callable[[str], Awaitable[None] | None]


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
    ) -> None:
        self.engine = engine or make_engine(url, schema, echo)
        self.storage = storage
        self.write_retries = write_retries
        self.retry_wait_s = retry_wait_s
        self.max_page_size = max_page_size
        self.on_thread_deleted = on_thread_deleted

    async def transaction(
        self, operation: str, thread_id: str | None, fn: Callable[[AsyncConnection], Awaitable[T]]
    ) -> T:
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

    async def _ensure_thread(self, conn: AsyncConnection, thread_id: str) -> None:
        now = utcnow()
        stmt = insert(conn, threads).values(id=thread_id, metadata={}, created_at=now, updated_at=now)
        await conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))

    def _element_dict(self, row: Any) -> dict[str, Any]:
        m = row._mapping
        element = {"id": m["id"], "threadId": m["thread_id"]}
        element |= {key: m[column] for key, column in ELEMENT_COLUMNS.items()}
        if m["object_key"]:
            element["url"] = self.storage.url(m["object_key"])  # fresh each read: S3 links expire
        return element
