"""ChatStore's threads: upserts, ownership, one thread with its steps and elements, pages of threads, deletion."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer.errors import DataLayerError, ThreadOwnershipError
from agent.datalayer.store_base import StoreBase
from agent.datalayer.store_rows import (
    _step_dict, _step_query, _thread_dict, _thread_query, elements, feedbacks, like, steps, threads, users,
)  # fmt: skip
from tools.store.sql import utcnow

log = logging.getLogger("agent.datalayer")


class ThreadStore(StoreBase):
    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        async def run(conn: AsyncConnection) -> None:
            await self._ensure_thread(conn, thread_id)
            row = (
                await conn.execute(select(threads).where(threads.c.id == thread_id).with_for_update())
            ).one()
            changes: dict[str, Any] = {"updated_at": utcnow()}
            if user_id is not None and row.user_id != user_id:
                if row.user_id is not None:
                    # Ownership is claimed once; Chainlit never moves a thread, so this is an attack or a bug.
                    raise ThreadOwnershipError(f"thread {thread_id} belongs to another user", thread_id=thread_id)
                changes["user_id"] = user_id
            if name is not None:
                changes["name"] = name
            if tags is not None:
                changes["tags"] = list(tags)
            if metadata is not None:
                # Chainlit's convention: a key set to None deletes it; the rest is merged.
                merged = {**(row.metadata or {}), **metadata}
                changes["metadata"] = {k: v for k, v in merged.items() if v is not None}
            await conn.execute(update(threads).where(threads.c.id == thread_id).values(**changes))

        await self.transaction("update_thread", thread_id, run)

    async def thread_owner(self, thread_id: str) -> str | None:
        """The owner's identifier; None for an unknown or ownerless thread, which nobody may open."""

        async def run(conn: AsyncConnection) -> str | None:
            query = select(users.c.identifier).select_from(threads.join(users, threads.c.user_id == users.c.id))
            return (await conn.execute(query.where(threads.c.id == thread_id))).scalar_one_or_none()

        return await self.transaction("thread_owner", thread_id, run, writes=False)

    async def is_owner(self, thread_id: str, user_identifier: str) -> bool:
        owner = await self.thread_owner(thread_id)
        return bool(owner) and bool(user_identifier) and owner == user_identifier

    async def get_thread(self, thread_id: str) -> dict[str, Any] | None:
        async def run(conn: AsyncConnection) -> dict[str, Any] | None:
            row = (await conn.execute(_thread_query().where(threads.c.id == thread_id))).first()
            if row is None:
                return None
            step_rows = await conn.execute(
                _step_query().where(steps.c.thread_id == thread_id).order_by(steps.c.created_at, steps.c.id)
            )
            element_rows = await conn.execute(
                select(elements).where(elements.c.thread_id == thread_id).order_by(elements.c.created_at)
            )
            thread = _thread_dict(row)
            thread["steps"] = [_step_dict(r) for r in step_rows]
            thread["elements"] = [self._element_dict(r) for r in element_rows]
            return thread

        return await self.transaction("get_thread", thread_id, run, writes=False)

    async def thread_page(
        self,
        *,
        first: int,
        cursor: str | None = None,
        user_id: str | None = None,
        feedback: int | None = None,
        search: str | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page, newest first, filtered and searched in SQL; returns (threads, has_next_page)."""
        first = max(1, min(first, self.max_page_size))

        async def run(conn: AsyncConnection) -> tuple[list[dict[str, Any]], bool]:
            query = _thread_query()
            if user_id is not None:
                query = query.where(threads.c.user_id == user_id)
            if feedback is not None:
                query = query.where(
                    exists().where(feedbacks.c.thread_id == threads.c.id, feedbacks.c.value == int(feedback))
                )
            if search and search.strip():
                # ILIKE on PostgreSQL, lower(x) LIKE lower(y) on SQLite; the user's % and _ are literal.
                pattern = like(search.strip())
                query = query.where(
                    or_(
                        threads.c.name.ilike(pattern, escape="\\"),
                        exists().where(steps.c.thread_id == threads.c.id, steps.c.output.ilike(pattern, escape="\\")),
                    )
                )
            if cursor:
                after = (await conn.execute(select(threads.c.created_at).where(threads.c.id == cursor))).first()
                if after is None:
                    return [], False  # the cursor thread was deleted: nothing reliable comes after it
                query = query.where(
                    or_(
                        threads.c.created_at < after.created_at,
                        and_(threads.c.created_at == after.created_at, threads.c.id < cursor),
                    )
                )
            query = query.order_by(threads.c.created_at.desc(), threads.c.id.desc()).limit(first + 1)
            rows = (await conn.execute(query)).all()
            return [_thread_dict(r) for r in rows[:first]], len(rows) > first

        return await self.transaction("list_threads", None, run, writes=False)

    async def delete_thread(self, thread_id: str) -> None:
        """Delete the thread with its steps, elements, feedbacks and files, then call on_thread_deleted."""

        async def run(conn: AsyncConnection) -> list[str]:
            keys = (
                await conn.execute(
                    select(elements.c.object_key).where(
                        elements.c.thread_id == thread_id, elements.c.object_key.is_not(None)
                    )
                )
            ).scalars().all()
            step_ids = select(steps.c.id).where(steps.c.thread_id == thread_id)
            await conn.execute(
                delete(feedbacks).where(or_(feedbacks.c.thread_id == thread_id, feedbacks.c.for_id.in_(step_ids)))
            )
            await conn.execute(delete(elements).where(elements.c.thread_id == thread_id))
            await conn.execute(delete(steps).where(steps.c.thread_id == thread_id))
            await conn.execute(delete(threads).where(threads.c.id == thread_id))
            return list(keys)

        keys = await self.transaction("delete_thread", thread_id, run)
        # What this process remembers of the thread goes with it (another instance's deletion is noticed on write).
        self._threads_known.pop(thread_id, None)
        self._facts_owners.pop(thread_id, None)
        failures: list[BaseException] = []
        for key in keys:
            try:
                await self._storage_call("delete element file", thread_id, lambda key=key: self.storage.delete(key))
            except DataLayerError as exc:
                failures.append(exc)
        if self.on_thread_deleted is not None:
            try:
                result = self.on_thread_deleted(thread_id)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                log.error("on_thread_deleted failed for thread %s: %s", thread_id, exc, extra={"thread_id": thread_id})
                failures.append(exc)
        if failures:
            # The rows are gone; say loudly that some files or indexes were left behind.
            raise DataLayerError(
                f"thread {thread_id} deleted, but cleanup failed: {failures[0]}", thread_id=thread_id
            ) from failures[0]
