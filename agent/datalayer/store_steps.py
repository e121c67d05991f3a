"""ChatStore's steps: upserts inside their own thread, deletion, the messages that rebuild memory, favorites."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer.db import parse_ts
from agent.datalayer.errors import DataLayerError, ThreadOwnershipError
from agent.datalayer.group_commit import GroupCommit
from agent.datalayer.store_base import StoreBase, owned_upsert
from agent.datalayer.store_rows import (
    KNOWN_STEP_KEYS, MESSAGE_ROLES, STEP_COLUMNS, STEP_TIMES, _step_dict, _step_query, elements, feedbacks, steps,
    threads,
)  # fmt: skip
from tools.store.sql import utcnow


StepRow = tuple[tuple[str, ...], dict[str, Any]]  # the columns an update changes, the row's values
StepRows = tuple[str, list[StepRow]]  # one call's thread and rows


def _step_values(step: dict[str, Any]) -> StepRow:
    """(the columns an update changes, the row's values) of one Chainlit step dict."""
    thread_id, step_id = step.get("threadId"), step.get("id")
    if not thread_id or not step_id:
        raise DataLayerError(f"step {step_id!r} needs an id and a threadId", thread_id=thread_id)
    values: dict[str, Any] = {"id": step_id, "thread_id": thread_id}
    values |= {column: step[key] for key, column in STEP_COLUMNS.items() if key in step}
    values |= {column: parse_ts(step[key]) for key, column in STEP_TIMES.items() if step.get(key)}
    extra = {k: v for k, v in step.items() if k not in KNOWN_STEP_KEYS}
    if extra:
        values["extra"] = extra
    changed = tuple(sorted(k for k in values if k not in ("id", "thread_id")))  # before the default below
    values.setdefault("created_at", utcnow())
    return changed, values


class StepStore(StoreBase):
    _step_group: GroupCommit[StepRows, list[str]] | None = None  # made on first use, per store

    async def upsert_step(self, step: dict[str, Any]) -> None:
        await self.upsert_steps([step])

    async def upsert_steps(self, batch: Sequence[dict[str, Any]]) -> None:
        """Write steps of one thread in one transaction, shared with the other writes queued meanwhile
        (`GroupCommit`). A step whose id is another thread's is not written (ids are client-chosen for user
        messages); the others are, and then ThreadOwnershipError names it."""
        rows = [_step_values(step) for step in batch]
        threads_of = {values["thread_id"] for _, values in rows}
        if len(threads_of) != 1:
            raise DataLayerError(f"one transaction writes steps of one thread, not {len(threads_of)}")
        thread_id = threads_of.pop()
        if foreign := await self._step_writes().submit((thread_id, rows)):
            raise ThreadOwnershipError(f"steps {', '.join(foreign)} belong to another thread", thread_id=thread_id)

    def _step_writes(self) -> GroupCommit[StepRows, list[str]]:
        if self._step_group is None:
            self._step_group = GroupCommit(self._write_steps)
        return self._step_group

    async def _write_steps(self, writes: Sequence[StepRows]) -> list[list[str]]:
        """Each write's foreign step ids, all writes in one transaction."""
        thread_ids = list(dict.fromkeys(thread_id for thread_id, _ in writes))
        # A thread this process wrote steps to lately exists: its empty-row insert was half of a turn's statements.
        # One deleted since (elsewhere) fails the steps' foreign key, and the write runs again with the insert.
        unknown = [thread_id for thread_id in thread_ids if thread_id not in self._threads_known]
        try:
            foreign_of = await self._write_steps_once(writes, unknown)
        except DataLayerError as exc:
            if len(unknown) == len(thread_ids) or not isinstance(exc.__cause__, IntegrityError):
                raise
            for thread_id in thread_ids:
                self._threads_known.pop(thread_id, None)
            foreign_of = await self._write_steps_once(writes, thread_ids)
        self._threads_known.update(dict.fromkeys(thread_ids))
        return foreign_of

    async def _write_steps_once(self, writes: Sequence[StepRows], ensure: list[str]) -> list[list[str]]:
        async def run(conn: AsyncConnection) -> list[list[str]]:
            foreign_of = []
            for thread_id in ensure:
                await self._ensure_thread(conn, thread_id)  # create_step may come before update_thread
            for thread_id, rows in writes:
                foreign = []
                for changed, values in rows:
                    if (await conn.execute(owned_upsert(conn.dialect.name, steps, changed), values)).first() is not None:
                        continue  # inserted, or updated in its own thread: nothing returned means another thread's
                    step_id = values["id"]
                    owner = (await conn.execute(select(steps.c.thread_id).where(steps.c.id == step_id))).scalar_one()
                    if owner != thread_id:
                        foreign.append(step_id)
                foreign_of.append(foreign)
            return foreign_of

        return await self.transaction("create_step", writes[0][0] if len(writes) == 1 else None, run)

    async def delete_step(self, step_id: str) -> None:
        async def run(conn: AsyncConnection) -> tuple[str | None, list[str]]:
            thread_id = (await conn.execute(select(steps.c.thread_id).where(steps.c.id == step_id))).scalar()
            keys = (
                await conn.execute(
                    select(elements.c.object_key).where(
                        elements.c.for_id == step_id, elements.c.object_key.is_not(None)
                    )
                )
            ).scalars().all()
            await conn.execute(delete(feedbacks).where(feedbacks.c.for_id == step_id))
            await conn.execute(delete(elements).where(elements.c.for_id == step_id))
            await conn.execute(delete(steps).where(steps.c.id == step_id))
            return thread_id, list(keys)

        thread_id, keys = await self.transaction("delete_step", None, run)
        for key in keys:
            await self._storage_call("delete element file", thread_id, lambda key=key: self.storage.delete(key))

    async def conversation_messages(self, thread_id: str) -> list[tuple[str, str]]:
        """(role, text) of the customer's and assistant's messages, oldest first, to rebuild memory."""

        async def run(conn: AsyncConnection) -> list[tuple[str, str]]:
            rows = await conn.execute(
                select(steps.c.type, steps.c.output)
                .where(steps.c.thread_id == thread_id, steps.c.type.in_(MESSAGE_ROLES))
                .order_by(steps.c.created_at, steps.c.id)
            )
            return [(MESSAGE_ROLES[r.type], r.output or "") for r in rows]

        return await self.transaction("conversation_messages", thread_id, run, writes=False)

    async def favorite_steps(self, user_id: str) -> list[dict[str, Any]]:
        async def run(conn: AsyncConnection) -> list[dict[str, Any]]:
            rows = await conn.execute(
                _step_query()
                .join(threads, steps.c.thread_id == threads.c.id)
                .where(threads.c.user_id == user_id, steps.c["metadata"]["favorite"].as_boolean().is_(True))
                .order_by(steps.c.created_at.desc())
            )
            return [_step_dict(r) for r in rows]

        return await self.transaction("get_favorite_steps", None, run)
