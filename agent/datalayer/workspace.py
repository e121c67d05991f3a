"""The support-lead workspace's reads over the chat history: the conversation list, filtered and paged in SQL.

Plain SQLAlchemy Core on SQLite and PostgreSQL, without Chainlit. Rows come back as dataclasses.

- Newest first, with keyset pagination on (threads.created_at, threads.id): a page never skips or repeats a
  conversation, even when several start in the same microsecond.
- Staff's own chats (the owner's role is lead or admin in the users table) are left out unless asked for.
- "Last rating" is the rating the customer gave most recently on any step of the conversation: the latest
  feedback row by its creation time, ties broken by the rated step's position (later step wins).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, case, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer.db import parse_ts
from agent.datalayer.store_base import StoreBase
from agent.datalayer.store_rows import feedbacks, steps, threads, users

STAFF_ROLES = frozenset({"lead", "admin"})  # the same as agent.web.auth.STAFF_ROLES, which the web passes in
CUSTOMER_MESSAGE = "user_message"
MESSAGE_TYPES = ("user_message", "assistant_message")
Rating = Literal["up", "down", "unrated"]
RATINGS: tuple[str, ...] = ("up", "down", "unrated")
MAX_PAGE = 100


class InvalidCursor(ValueError):
    """A cursor that this module did not write (hand-edited, truncated or from another version)."""


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the last row's start and thread id. `encode()` is safe in a URL."""

    created_at: datetime
    thread_id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.thread_id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            moment, thread_id = json.loads(raw)
            created_at = parse_ts(moment)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise InvalidCursor(f"not a conversation-list cursor: {text[:40]!r}") from exc
        if created_at is None or not isinstance(thread_id, str) or not thread_id:
            raise InvalidCursor(f"not a conversation-list cursor: {text[:40]!r}")
        return cls(created_at, thread_id)


@dataclass(frozen=True)
class ConversationFilters:
    """All optional. `since` is inclusive and `until` exclusive (naive UTC, like the stored times); `customer`
    and `search` are case-insensitive substrings in which % and _ are literal."""

    since: datetime | None = None
    until: datetime | None = None
    customer: str | None = None  # in the owner's identifier or display name
    rating: Rating | None = None  # the last rating: up (1), down (0), or no rating at all
    search: str | None = None  # in the text of the conversation's messages (customer's and assistant's)
    include_staff: bool = False  # staff's own chats too


@dataclass(frozen=True)
class ConversationRow:
    thread_id: str
    title: str | None  # the thread's name: Chainlit names a conversation after its first message
    customer: str | None  # the owner's identifier; None for a conversation nobody owns
    customer_name: str | None
    started_at: datetime
    customer_messages: int
    last_rating: int | None  # 1 for 👍, 0 for 👎, None when unrated
    staff_owned: bool


@dataclass(frozen=True)
class ConversationPage:
    rows: list[ConversationRow]
    next_cursor: Cursor | None  # None on the last page


def _like(text: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


def _customer_messages() -> Any:
    return (
        select(func.count())
        .select_from(steps)
        .where(steps.c.thread_id == threads.c.id, steps.c.type == CUSTOMER_MESSAGE)
        .scalar_subquery()
    )


def _last_rating() -> Any:
    return (
        select(feedbacks.c.value)
        .select_from(feedbacks.join(steps, steps.c.id == feedbacks.c.for_id))
        .where(steps.c.thread_id == threads.c.id)
        .order_by(feedbacks.c.created_at.desc(), steps.c.created_at.desc(), steps.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _rated() -> Any:
    return exists().where(steps.c.thread_id == threads.c.id, feedbacks.c.for_id == steps.c.id)


def _conditions(filters: ConversationFilters, staff_roles: Collection[str]) -> list[Any]:
    where: list[Any] = []
    if not filters.include_staff:
        where.append(or_(users.c.role.is_(None), users.c.role.not_in(list(staff_roles))))
    if filters.since is not None:
        where.append(threads.c.created_at >= parse_ts(filters.since))
    if filters.until is not None:
        where.append(threads.c.created_at < parse_ts(filters.until))
    if filters.customer and filters.customer.strip():
        pattern = _like(filters.customer.strip())
        where.append(
            or_(users.c.identifier.ilike(pattern, escape="\\"), users.c.display_name.ilike(pattern, escape="\\"))
        )
    if filters.rating == "up":
        where.append(_last_rating() == 1)
    elif filters.rating == "down":
        where.append(_last_rating() == 0)
    elif filters.rating == "unrated":
        where.append(not_(_rated()))
    elif filters.rating is not None:
        raise ValueError(f"rating must be one of {RATINGS}, not {filters.rating!r}")
    if filters.search and filters.search.strip():
        pattern = _like(filters.search.strip())
        where.append(
            exists().where(
                steps.c.thread_id == threads.c.id,
                steps.c.type.in_(MESSAGE_TYPES),
                steps.c.output.ilike(pattern, escape="\\"),
            )
        )
    return where


def _after(cursor: Cursor) -> Any:
    moment = parse_ts(cursor.created_at)
    return or_(
        threads.c.created_at < moment,
        and_(threads.c.created_at == moment, threads.c.id < cursor.thread_id),
    )


def _row(row: Any) -> ConversationRow:
    m = row._mapping
    return ConversationRow(
        thread_id=m["id"], title=m["name"], customer=m["identifier"], customer_name=m["display_name"],
        started_at=m["created_at"], customer_messages=int(m["customer_messages"] or 0), last_rating=m["last_rating"],
        staff_owned=bool(m["staff_owned"]),
    )  # fmt: skip


class WorkspaceQueries:
    """The workspace's reads, in the chat store's database (one retried transaction per call)."""

    def __init__(self, store: StoreBase, staff_roles: Collection[str] = STAFF_ROLES) -> None:
        self.store = store
        self.staff_roles = frozenset(staff_roles)

    async def conversations(
        self, filters: ConversationFilters | None = None, first: int = 50, cursor: Cursor | str | None = None
    ) -> ConversationPage:
        """One page of conversations, newest first, after `cursor` (a Cursor or its encoded text)."""
        filters = filters or ConversationFilters()
        first = max(1, min(int(first), MAX_PAGE))
        after = Cursor.decode(cursor) if isinstance(cursor, str) else cursor
        staff = case((users.c.role.in_(list(self.staff_roles)), True), else_=False)
        columns = [threads.c.id, threads.c.name, threads.c.created_at, users.c.identifier, users.c.display_name]
        columns += [_customer_messages().label("customer_messages"), _last_rating().label("last_rating")]
        query = (
            select(*columns, staff.label("staff_owned"))
            .select_from(threads.outerjoin(users, threads.c.user_id == users.c.id))
            .where(*_conditions(filters, self.staff_roles))
        )
        if after is not None:
            query = query.where(_after(after))
        query = query.order_by(threads.c.created_at.desc(), threads.c.id.desc()).limit(first + 1)

        async def run(conn: AsyncConnection) -> ConversationPage:
            rows = [_row(r) for r in (await conn.execute(query)).all()]
            page = rows[:first]
            more = len(rows) > first
            return ConversationPage(page, Cursor(page[-1].started_at, page[-1].thread_id) if more else None)

        return await self.store.transaction("workspace_conversations", None, run)
