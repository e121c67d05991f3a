"""The support-lead workspace's reads over the chat history: the conversation list, filtered and paged in SQL.

Plain SQLAlchemy Core on SQLite and PostgreSQL, without Chainlit. Rows come back as dataclasses; the filters
are in workspace_filters.py.

- Newest first, with keyset pagination on (threads.created_at, threads.id): a page never skips or repeats a
  conversation, even when several start in the same microsecond. `rows()` walks every page for the CSV export.
- Staff's own chats (the owner's role is lead or admin in the users table) are left out unless asked for.
- "Last rating" is the rating the customer gave most recently on any step of the conversation: the latest
  feedback row by its creation time, ties broken by the rated step's position (later step wins).
- Turns are the customer's messages counted in the stored steps (not conversation_facts.turns), so a
  conversation without a facts record shows them too and the number matches the transcript. Outcome, ticket
  and "did not know" come from conversation_facts, and are None when the conversation has no facts record.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer.db import parse_ts
from agent.datalayer.models import STAFF_ROLES
from agent.datalayer.store_base import StoreBase
from agent.datalayer.store_rows import threads, users
from agent.datalayer.workspace_filters import (
    CUSTOMER_MESSAGE,
    ESCALATED_OUTCOME,
    MESSAGE_TYPES,
    RATINGS,
    ConversationFilters,
    Rating,
    conditions,
    customer_messages,
    fact_items,
    facts,
    last_rating,
)

__all__ = ["CUSTOMER_MESSAGE", "MESSAGE_TYPES", "RATINGS", "ConversationFilters", "ConversationPage", "ConversationRow",
           "Cursor", "Facets", "InvalidCursor", "Rating", "WorkspaceQueries", "customer_messages", "last_rating"]
_last_rating = last_rating  # the names agent/datalayer/facts.py imports (they lived here before the split)
_customer_messages = customer_messages

MAX_PAGE = 100
EXPORT_BATCH = 500  # rows per query while `rows()` walks a whole export: one short transaction each


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
class ConversationRow:
    thread_id: str
    title: str | None  # the thread's name: Chainlit names a conversation after its first message
    customer: str | None  # the owner's identifier; None for a conversation nobody owns
    customer_name: str | None
    started_at: datetime
    customer_messages: int  # the turns: the customer's messages in the stored steps
    last_rating: int | None  # 1 for 👍, 0 for 👎, None when unrated
    staff_owned: bool
    # From conversation_facts; all None when the conversation has no facts record.
    outcome: str | None = None  # answered, unanswered, escalated or error
    ticket_id: str | None = None  # the hand-over ticket
    ticket_status: str | None = None  # open, pending or solved
    knowledge_misses: int | None = None  # questions the assistant could not answer from the knowledge base

    @property
    def escalated(self) -> bool:
        """Handed over to a person, as the `escalated` filter means it."""
        return self.ticket_id is not None or self.outcome == ESCALATED_OUTCOME


@dataclass(frozen=True)
class ConversationPage:
    rows: list[ConversationRow]
    next_cursor: Cursor | None  # None on the last page


@dataclass(frozen=True)
class Facets:
    """The names the tool and intent filters can take: those recorded in some conversation, sorted."""

    tools: list[str]
    intents: list[str]


def _after(cursor: Cursor) -> Any:
    moment = parse_ts(cursor.created_at)
    # The first condition is implied by the second; it is the range ix_threads_created can seek to. Without it
    # PostgreSQL walks the index from the newest row and filters, so deep pages (and a whole CSV) got slower.
    return and_(
        threads.c.created_at <= moment,
        or_(threads.c.created_at < moment, and_(threads.c.created_at == moment, threads.c.id < cursor.thread_id)),
    )


def _row(row: Any) -> ConversationRow:
    m = row._mapping
    return ConversationRow(
        thread_id=m["id"], title=m["name"], customer=m["identifier"], customer_name=m["display_name"],
        started_at=m["created_at"], customer_messages=int(m["customer_messages"] or 0), last_rating=m["last_rating"],
        staff_owned=bool(m["staff_owned"]), outcome=m["outcome"], ticket_id=m["ticket_id"],
        ticket_status=m["ticket_status"], knowledge_misses=m["knowledge_misses"],
    )  # fmt: skip


class WorkspaceQueries:
    """The workspace's reads, in the chat store's database (one retried transaction per call)."""

    def __init__(self, store: StoreBase, staff_roles: Collection[str] = STAFF_ROLES) -> None:
        self.store = store
        self.staff_roles = frozenset(staff_roles)

    def _query(self, filters: ConversationFilters, first: int, after: Cursor | None) -> Any:
        staff = case((users.c.role.in_(list(self.staff_roles)), True), else_=False)
        columns = [threads.c.id, threads.c.name, threads.c.created_at, users.c.identifier, users.c.display_name]
        columns += [customer_messages().label("customer_messages"), last_rating().label("last_rating")]
        columns += [facts.c.outcome, facts.c.ticket_id, facts.c.ticket_status, facts.c.knowledge_misses]
        joined = threads.outerjoin(users, threads.c.user_id == users.c.id).outerjoin(
            facts, facts.c.thread_id == threads.c.id
        )
        query = select(*columns, staff.label("staff_owned")).select_from(joined)
        query = query.where(*conditions(filters, self.staff_roles))
        if after is not None:
            query = query.where(_after(after))
        return query.order_by(threads.c.created_at.desc(), threads.c.id.desc()).limit(first + 1)

    async def _page(self, filters: ConversationFilters, first: int, after: Cursor | None) -> ConversationPage:
        query = self._query(filters, first, after)

        async def run(conn: AsyncConnection) -> ConversationPage:
            rows = [_row(r) for r in (await conn.execute(query)).all()]
            page = rows[:first]
            more = len(rows) > first
            return ConversationPage(page, Cursor(page[-1].started_at, page[-1].thread_id) if more else None)

        return await self.store.transaction("workspace_conversations", None, run)

    async def conversations(
        self, filters: ConversationFilters | None = None, first: int = 50, cursor: Cursor | str | None = None
    ) -> ConversationPage:
        """One page of conversations, newest first, after `cursor` (a Cursor or its encoded text)."""
        after = Cursor.decode(cursor) if isinstance(cursor, str) else cursor
        return await self._page(filters or ConversationFilters(), max(1, min(int(first), MAX_PAGE)), after)

    async def rows(
        self, filters: ConversationFilters | None = None, batch: int = EXPORT_BATCH
    ) -> AsyncIterator[ConversationRow]:
        """Every matching conversation, newest first, read `batch` rows at a time with the keyset cursor: never
        all of them in memory, and no transaction held open while the caller (a download) waits on the network."""
        filters = filters or ConversationFilters()
        after: Cursor | None = None
        while True:
            page = await self._page(filters, max(1, int(batch)), after)
            for row in page.rows:
                yield row
            if page.next_cursor is None:
                return
            after = page.next_cursor

    async def facet_values(self) -> Facets:
        """The distinct tool and intent names recorded in any conversation, for the filters' choices."""
        query = select(fact_items.c.kind, fact_items.c.name).distinct().order_by(fact_items.c.kind, fact_items.c.name)

        async def run(conn: AsyncConnection) -> Facets:
            found: dict[str, list[str]] = {"tool": [], "intent": []}
            for kind, name in (await conn.execute(query)).all():
                found.setdefault(kind, []).append(name)
            return Facets(tools=found["tool"], intents=found["intent"])

        return await self.store.transaction("workspace_facets", None, run)
