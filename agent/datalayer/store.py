"""All SQL for chat history, as plain dicts in Chainlit 2.12's shapes, without importing Chainlit.

`layer.SQLDataLayer` adapts this to Chainlit's BaseDataLayer. Every method runs
in one transaction, retried on transient errors; failures raise DataLayerError.
Writes are upserts, because Chainlit sends update_step for steps that do not
exist yet and update_thread before the thread exists, and may send both twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agent.datalayer import models
from agent.datalayer.db import format_ts, parse_ts, run_with_retries
from tools.store.sql import insert, make_engine, utcnow
from agent.datalayer.errors import DataLayerError, ThreadOwnershipError
from agent.datalayer.storage import Storage

log = logging.getLogger("agent.datalayer")
T = TypeVar("T")
users, threads, steps = models.User.__table__, models.Thread.__table__, models.Step.__table__
elements, feedbacks = models.Element.__table__, models.Feedback.__table__

# StepDict key -> column. Keys outside these (and id/threadId/feedback) go to the `extra` JSON column.
STEP_COLUMNS = {
    "name": "name", "type": "type", "parentId": "parent_id", "input": "input", "output": "output",
    "isError": "is_error", "streaming": "streaming", "waitForAnswer": "wait_for_answer",
    "defaultOpen": "default_open", "autoCollapse": "auto_collapse", "showInput": "show_input",
    "language": "language", "icon": "icon", "command": "command", "metadata": "metadata", "tags": "tags",
    "modes": "modes", "generation": "generation",
}  # fmt: skip
STEP_TIMES = {"createdAt": "created_at", "start": "start_at", "end": "end_at"}
# `feedback` is read from the feedbacks table (written by upsert_feedback), never from a step dict.
STEP_NOT_STORED = {"id", "threadId", "feedback"}
KNOWN_STEP_KEYS = set(STEP_COLUMNS) | set(STEP_TIMES) | STEP_NOT_STORED
ELEMENT_COLUMNS = {
    "type": "type", "name": "name", "mime": "mime", "display": "display", "size": "size",
    "language": "language", "page": "page", "autoPlay": "auto_play", "playerConfig": "player_config",
    "props": "props", "url": "url", "objectKey": "object_key", "chainlitKey": "chainlit_key", "forId": "for_id",
}  # fmt: skip
MESSAGE_ROLES = {"user_message": "user", "assistant_message": "assistant"}
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

ThreadDeletedHook = Callable[[str], Awaitable[None] | None]


class ChatStore:
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

    # --- users (Chainlit's side: identity only; passwords and roles are managed by agent.users)

    async def user_row(self, identifier: str) -> dict[str, Any] | None:
        async def run(conn: AsyncConnection) -> dict[str, Any] | None:
            row = (await conn.execute(select(users).where(users.c.identifier == identifier))).first()
            return dict(row._mapping) if row else None

        return await self.transaction("get_user", None, run)

    async def ensure_user(
        self, identifier: str, display_name: str | None, metadata: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Insert a customer, or refresh name/metadata of an existing user; role and password never change here."""
        metadata = {k: v for k, v in (metadata or {}).items() if k != "role"}  # role comes from the column only

        async def run(conn: AsyncConnection) -> dict[str, Any]:
            stmt = insert(conn, users).values(
                id=str(uuid.uuid4()), identifier=identifier, display_name=display_name, role="customer",
                metadata=metadata, created_at=utcnow(),
            )  # fmt: skip
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["identifier"]))
            changes: dict[str, Any] = {"display_name": display_name} if display_name else {}
            if metadata:
                current = (await conn.execute(select(users.c["metadata"]).where(users.c.identifier == identifier)))
                changes["metadata"] = {**(current.scalar_one() or {}), **metadata}
            if changes:
                await conn.execute(update(users).where(users.c.identifier == identifier).values(**changes))
            row = (await conn.execute(select(users).where(users.c.identifier == identifier))).one()
            return dict(row._mapping)

        return await self.transaction("create_user", None, run)

    # --- threads

    async def _ensure_thread(self, conn: AsyncConnection, thread_id: str) -> None:
        now = utcnow()
        stmt = insert(conn, threads).values(id=thread_id, metadata={}, created_at=now, updated_at=now)
        await conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))

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

        return await self.transaction("thread_owner", thread_id, run)

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

        return await self.transaction("get_thread", thread_id, run)

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
                pattern = "%" + re.sub(r"([\\%_])", r"\\\1", search.strip()) + "%"
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

        return await self.transaction("list_threads", None, run)

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

    # --- steps

    async def upsert_step(self, step: dict[str, Any]) -> None:
        thread_id, step_id = step.get("threadId"), step.get("id")
        if not thread_id or not step_id:
            raise DataLayerError(f"step {step_id!r} needs an id and a threadId", thread_id=thread_id)
        values: dict[str, Any] = {"id": step_id, "thread_id": thread_id}
        values |= {column: step[key] for key, column in STEP_COLUMNS.items() if key in step}
        values |= {column: parse_ts(step[key]) for key, column in STEP_TIMES.items() if step.get(key)}
        extra = {k: v for k, v in step.items() if k not in KNOWN_STEP_KEYS}
        if extra:
            values["extra"] = extra

        async def run(conn: AsyncConnection) -> None:
            await self._ensure_thread(conn, thread_id)  # create_step may come before update_thread
            stmt = insert(conn, steps).values(values | {"created_at": values.get("created_at") or utcnow()})
            changed = {k: stmt.excluded[k] for k in values if k not in ("id", "thread_id")}
            # A known step id only updates inside its own thread: ids are client-chosen for user messages.
            if changed:
                stmt = stmt.on_conflict_do_update(
                    index_elements=["id"], set_=changed, where=steps.c.thread_id == stmt.excluded.thread_id
                )
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=["id"])
            await conn.execute(stmt)
            owner = (await conn.execute(select(steps.c.thread_id).where(steps.c.id == step_id))).scalar_one()
            if owner != thread_id:
                raise ThreadOwnershipError(f"step {step_id} belongs to another thread", thread_id=thread_id)

        await self.transaction("create_step", thread_id, run)

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

        return await self.transaction("conversation_messages", thread_id, run)

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

    # --- elements

    def object_key(self, thread_id: str, element_id: str) -> str:
        return f"threads/{_segment(thread_id)}/{_segment(element_id)}"

    async def save_element(self, element: dict[str, Any], data: bytes | None) -> None:
        """Upsert an element row; `data` (its file) goes to storage first and the row records objectKey."""
        thread_id, element_id = element.get("threadId"), element.get("id")
        if not thread_id or not element_id:
            raise DataLayerError(f"element {element_id!r} needs an id and a threadId", thread_id=thread_id)
        values = {"id": element_id, "thread_id": thread_id, "created_at": utcnow()}
        values |= {column: element.get(key) for key, column in ELEMENT_COLUMNS.items()}
        if data is not None and not element.get("url"):
            key = self.object_key(thread_id, element_id)
            mime = element.get("mime") or "application/octet-stream"
            values["url"] = await self._storage_call(
                "upload element file", thread_id, lambda: self.storage.upload(key, data, mime)
            )
            values["object_key"] = key

        async def run(conn: AsyncConnection) -> None:
            await self._ensure_thread(conn, thread_id)
            stmt = insert(conn, elements).values(values)
            stmt = stmt.on_conflict_do_update(
                index_elements=["id"],
                set_={k: stmt.excluded[k] for k in values if k not in ("id", "thread_id", "created_at")},
                where=elements.c.thread_id == stmt.excluded.thread_id,
            )
            await conn.execute(stmt)
            owner = (await conn.execute(select(elements.c.thread_id).where(elements.c.id == element_id))).scalar_one()
            if owner != thread_id:
                raise ThreadOwnershipError(f"element {element_id} belongs to another thread", thread_id=thread_id)

        await self.transaction("create_element", thread_id, run)

    async def get_element(self, thread_id: str, element_id: str) -> dict[str, Any] | None:
        async def run(conn: AsyncConnection) -> Any:
            query = select(elements).where(elements.c.id == element_id, elements.c.thread_id == thread_id)
            return (await conn.execute(query)).first()

        row = await self.transaction("get_element", thread_id, run)
        return self._element_dict(row) if row else None

    async def element_file(self, thread_id: str, element_id: str) -> tuple[bytes, str, str] | None:
        """(bytes, mime, name) of a stored element file, for the app's file route (check ownership first)."""
        element = await self.get_element(thread_id, element_id)
        if not element or not element.get("objectKey"):
            return None
        key = element["objectKey"]
        data = await self._storage_call("read element file", thread_id, lambda: self.storage.read(key))
        return data, element.get("mime") or "application/octet-stream", element.get("name") or element_id

    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        async def run(conn: AsyncConnection) -> list[str]:
            where = [elements.c.id == element_id] + ([elements.c.thread_id == thread_id] if thread_id else [])
            keys = (await conn.execute(select(elements.c.object_key).where(*where))).scalars().all()
            await conn.execute(delete(elements).where(*where))
            return [k for k in keys if k]

        for key in await self.transaction("delete_element", thread_id, run):
            await self._storage_call("delete element file", thread_id, lambda key=key: self.storage.delete(key))

    def _element_dict(self, row: Any) -> dict[str, Any]:
        m = row._mapping
        element = {"id": m["id"], "threadId": m["thread_id"]}
        element |= {key: m[column] for key, column in ELEMENT_COLUMNS.items()}
        if m["object_key"]:
            element["url"] = self.storage.url(m["object_key"])  # fresh each read: S3 links expire
        return element

    # --- feedback

    async def save_feedback(
        self, *, for_id: str, value: int, comment: str | None, feedback_id: str | None, thread_id: str | None
    ) -> str:
        async def run(conn: AsyncConnection) -> str:
            # The step's own thread wins over the client-supplied threadId, so a rating counts where it belongs.
            owner = (await conn.execute(select(steps.c.thread_id).where(steps.c.id == for_id))).scalar()
            changes = {"value": int(value), "comment": comment}
            if feedback_id:
                result = await conn.execute(
                    update(feedbacks).where(feedbacks.c.id == feedback_id, feedbacks.c.for_id == for_id).values(changes)
                )
                if result.rowcount:
                    return feedback_id
            stmt = insert(conn, feedbacks).values(
                id=feedback_id or str(uuid.uuid4()), for_id=for_id, thread_id=owner or thread_id,
                created_at=utcnow(), **changes,
            )  # fmt: skip
            stmt = stmt.on_conflict_do_update(index_elements=["for_id"], set_=changes)
            await conn.execute(stmt)
            return (await conn.execute(select(feedbacks.c.id).where(feedbacks.c.for_id == for_id))).scalar_one()

        return await self.transaction("upsert_feedback", thread_id, run)

    async def step_thread(self, step_id: str) -> str | None:
        async def run(conn: AsyncConnection) -> str | None:
            return (await conn.execute(select(steps.c.thread_id).where(steps.c.id == step_id))).scalar()

        return await self.transaction("step_thread", None, run)

    async def feedback_thread(self, feedback_id: str) -> str | None:
        """The thread of the rated step, or the one recorded with the rating when the step is gone."""

        async def run(conn: AsyncConnection) -> str | None:
            query = select(func.coalesce(steps.c.thread_id, feedbacks.c.thread_id)).select_from(
                feedbacks.outerjoin(steps, steps.c.id == feedbacks.c.for_id)
            )
            return (await conn.execute(query.where(feedbacks.c.id == feedback_id))).scalar()

        return await self.transaction("feedback_thread", None, run)

    async def delete_feedback(self, feedback_id: str) -> bool:
        async def run(conn: AsyncConnection) -> bool:
            return bool((await conn.execute(delete(feedbacks).where(feedbacks.c.id == feedback_id))).rowcount)

        return await self.transaction("delete_feedback", None, run)


def _segment(value: str) -> str:
    # Thread ids come from the browser: anything unusual becomes a hash, never a path component.
    return value if _SAFE_SEGMENT.match(value) else hashlib.sha256(value.encode()).hexdigest()


def _thread_query() -> Any:
    return select(threads, users.c.identifier.label("user_identifier")).select_from(
        threads.outerjoin(users, threads.c.user_id == users.c.id)
    )


def _step_query() -> Any:
    return select(
        steps,
        feedbacks.c.id.label("feedback_id"),
        feedbacks.c.value.label("feedback_value"),
        feedbacks.c.comment.label("feedback_comment"),
    ).select_from(steps.outerjoin(feedbacks, feedbacks.c.for_id == steps.c.id))


def _thread_dict(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "createdAt": format_ts(m["created_at"]),
        "name": m["name"],
        "userId": m["user_id"],
        "userIdentifier": m["user_identifier"],
        "tags": m["tags"],
        "metadata": m["metadata"] or {},
        "steps": [],
        "elements": [],
    }


def _step_dict(row: Any) -> dict[str, Any]:
    m = row._mapping
    step: dict[str, Any] = dict(m["extra"] or {})
    step |= {"id": m["id"], "threadId": m["thread_id"]}
    step |= {key: m[column] for key, column in STEP_COLUMNS.items()}
    step |= {key: format_ts(m[column]) for key, column in STEP_TIMES.items()}
    step["metadata"] = m["metadata"] if m["metadata"] is not None else {}
    step["feedback"] = (
        {"forId": m["id"], "id": m["feedback_id"], "value": m["feedback_value"], "comment": m["feedback_comment"]}
        if m["feedback_id"]
        else None
    )
    return step
