"""The escalation queue: support leads list, read, assign, annotate and move the hand-over tickets.

Not a tool the model sees: the workspace (agent/web/queue.py) calls these for a signed-in lead, whose identifier
is the `actor` of each change. A change and its history event (`TicketEvent`: who, when, from, to) are written in
one transaction, so the history never misses a change nor records one that did not happen.

Concurrency: a change first updates the ticket's `updated_at`, which takes the row's lock on PostgreSQL and the
database's write lock on SQLite, and only then reads the ticket. Two leads acting at once therefore queue up and
the second sees the first's change: when both assign at once, the last write wins and both events are recorded
(the second one's `from_value` is the first one's assignee); a status move is checked against the status found
under the lock, so a double-submitted "Solve" is refused the second time instead of recorded twice.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tools.errors import InvalidTicketCursor, TicketChangeRefused, TicketNotFound
from tools.store.access import transient_errors
from tools.store.db import StoreDatabase
from tools.store.models import TICKET_STATUSES, Customer, Ticket, TicketEvent
from tools.store.sql import utcnow

QUEUE_STATUSES = ("open", "pending")  # what still needs a person: the queue's default view
# The workflow: pending waits on the customer, solved may be reopened, nothing else.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("pending", "solved"),
    "pending": ("open", "solved"),
    "solved": ("open",),
}
ASSISTANT = "assistant"  # the actor of what the hand-over tool does
MAX_NOTE_CHARS = 4000
MAX_PAGE = 100
EXPORT_BATCH = 200  # rows per query while streaming an export: bounded memory, short transactions
MAX_REASONS = 50  # distinct reasons offered as a filter


@dataclass(frozen=True)
class TicketFilters:
    """Which tickets to list; all of them match by default except solved ones."""

    statuses: tuple[str, ...] = QUEUE_STATUSES
    assignee: str | None = None  # only this staff member's tickets
    unassigned: bool = False  # only tickets nobody has taken
    reason: str | None = None  # exactly this reason

    def __post_init__(self) -> None:
        unknown = [status for status in self.statuses if status not in TICKET_STATUSES]
        if unknown or not self.statuses:
            raise ValueError(f"statuses must be some of {TICKET_STATUSES}, not {self.statuses!r}")
        if self.unassigned and self.assignee:
            raise ValueError("a ticket cannot be both unassigned and assigned to someone")


@dataclass(frozen=True)
class TicketRow:
    id: str
    conversation_id: str
    status: str
    reason: str
    summary: str
    customer_id: str | None
    customer_name: str | None  # first and last name in the store, when the ticket has a customer
    customer_email: str | None
    assignee: str | None
    created_at: datetime  # naive UTC, like every stored time
    updated_at: datetime

    @property
    def moves(self) -> tuple[str, ...]:
        """The statuses this ticket may move to now."""
        return TRANSITIONS.get(self.status, ())


@dataclass(frozen=True)
class TicketEventRow:
    id: int
    at: datetime
    actor: str
    kind: str  # created, assigned, status or note
    from_value: str | None
    to_value: str | None
    note: str | None


@dataclass(frozen=True)
class TicketDetail:
    ticket: TicketRow
    events: list[TicketEventRow] = field(default_factory=list)  # oldest first


@dataclass(frozen=True)
class TicketCursor:
    """Where a page ends: the last row's creation time and id. `encode()` is safe in a URL."""

    created_at: datetime
    ticket_id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at.isoformat(), self.ticket_id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> TicketCursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            moment, ticket_id = json.loads(raw)
            created_at = datetime.fromisoformat(moment)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise InvalidTicketCursor(f"not a ticket-queue cursor: {text[:40]!r}") from exc
        if not isinstance(ticket_id, str) or not ticket_id or created_at.tzinfo is not None:
            raise InvalidTicketCursor(f"not a ticket-queue cursor: {text[:40]!r}")
        return cls(created_at, ticket_id)


@dataclass(frozen=True)
class TicketPage:
    rows: list[TicketRow]
    next_cursor: TicketCursor | None  # None on the last page


def _rows() -> Select[Any]:
    columns = (Customer.first_name, Customer.last_name, Customer.email)
    return select(Ticket, *columns).outerjoin(Customer, Customer.id == Ticket.customer_id)


def _row(found: Any) -> TicketRow:
    ticket, first, last, email = found
    name = " ".join(part for part in (first, last) if part) or None
    return TicketRow(
        id=ticket.id, conversation_id=ticket.conversation_id, status=ticket.status, reason=ticket.reason,
        summary=ticket.summary, customer_id=ticket.customer_id, customer_name=name, customer_email=email,
        assignee=ticket.assignee, created_at=ticket.created_at, updated_at=ticket.updated_at,
    )  # fmt: skip


def _conditions(filters: TicketFilters) -> list[Any]:
    where: list[Any] = [Ticket.status.in_(filters.statuses)]
    if filters.assignee:
        where.append(Ticket.assignee == filters.assignee)
    if filters.unassigned:
        where.append(Ticket.assignee.is_(None))
    if filters.reason:
        where.append(Ticket.reason == filters.reason)
    return where


def _after(cursor: TicketCursor) -> Any:
    return or_(
        Ticket.created_at > cursor.created_at,
        and_(Ticket.created_at == cursor.created_at, Ticket.id > cursor.ticket_id),
    )


def _event(event: TicketEvent) -> TicketEventRow:
    return TicketEventRow(event.id, event.at, event.actor, event.kind, event.from_value, event.to_value, event.note)


class TicketQueue:
    """The queue's reads and changes over the store's database (each call one transaction)."""

    def __init__(self, db: StoreDatabase) -> None:
        self.db = db

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AsyncSession]:
        with transient_errors():
            async with self.db.read() as session:
                yield session

    async def page(
        self, filters: TicketFilters | None = None, first: int = 50, cursor: TicketCursor | str | None = None
    ) -> TicketPage:
        """One page of tickets, oldest first, after `cursor` (a TicketCursor or its encoded text)."""
        filters = filters or TicketFilters()
        first = max(1, min(int(first), MAX_PAGE))
        after = TicketCursor.decode(cursor) if isinstance(cursor, str) else cursor
        query = _rows().where(*_conditions(filters))
        if after is not None:
            query = query.where(_after(after))
        query = query.order_by(Ticket.created_at, Ticket.id).limit(first + 1)
        async with self._reading() as session:
            rows = [_row(found) for found in (await session.execute(query)).all()]
        page, more = rows[:first], len(rows) > first
        return TicketPage(page, TicketCursor(page[-1].created_at, page[-1].id) if more else None)

    async def export(self, filters: TicketFilters | None = None) -> AsyncIterator[TicketRow]:
        """Every matching ticket, oldest first, read a batch at a time (for a streamed download)."""
        cursor: TicketCursor | None = None
        while True:
            page = await self.page(filters, EXPORT_BATCH, cursor)
            for row in page.rows:
                yield row
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def reasons(self, statuses: Collection[str] = TICKET_STATUSES) -> list[str]:
        """The reasons tickets were handed over for, most frequent first (for the reason filter)."""
        count = func.count().label("tickets")
        query = (
            select(Ticket.reason, count)
            .where(Ticket.status.in_(list(statuses)))
            .group_by(Ticket.reason)
            .order_by(count.desc(), Ticket.reason)
            .limit(MAX_REASONS)
        )
        async with self._reading() as session:
            return [reason for reason, _ in (await session.execute(query)).all()]

    async def get(self, ticket_id: str) -> TicketDetail:
        """The ticket with its whole history; TicketNotFound if there is no such ticket."""
        async with self._reading() as session:
            found = (await session.execute(_rows().where(Ticket.id == ticket_id))).first()
            if found is None:
                raise TicketNotFound(f"Ticket {ticket_id} was not found.")
            events = await session.scalars(
                select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
            )
            return TicketDetail(_row(found), [_event(event) for event in events])

    @asynccontextmanager
    async def _changing(self, ticket_id: str) -> AsyncIterator[tuple[AsyncSession, Ticket, datetime]]:
        """The ticket, locked for this transaction (see the module's note on concurrency), and the time now."""
        now = utcnow()
        with transient_errors():
            async with self.db.session() as session:
                # Writes nothing, but takes the lock (PostgreSQL: the row's; SQLite: the database's).
                lock = update(Ticket).where(Ticket.id == ticket_id).values(updated_at=Ticket.updated_at)
                if (await session.execute(lock)).rowcount == 0:  # type: ignore[attr-defined]
                    raise TicketNotFound(f"Ticket {ticket_id} was not found.")
                ticket = await session.get_one(Ticket, ticket_id, populate_existing=True)
                yield session, ticket, now

    async def _current(self, ticket_id: str) -> TicketRow:
        return (await self.get(ticket_id)).ticket

    async def assign(self, ticket_id: str, actor: str, assignee: str | None) -> TicketRow:
        """Give the ticket to `assignee` (None: nobody). Giving it to whoever has it already changes nothing."""
        async with self._changing(ticket_id) as (session, ticket, now):
            before = ticket.assignee
            if before != assignee:
                ticket.assignee, ticket.updated_at = assignee, now
                session.add(TicketEvent(ticket_id=ticket_id, at=now, actor=actor, kind="assigned",
                                        from_value=before, to_value=assignee))  # fmt: skip
        return await self._current(ticket_id)

    async def move(self, ticket_id: str, actor: str, status: str) -> TicketRow:
        """Move the ticket along the workflow (TRANSITIONS); TicketChangeRefused for any other move."""
        async with self._changing(ticket_id) as (session, ticket, now):
            before = ticket.status
            if status not in TRANSITIONS.get(before, ()):
                allowed = " or ".join(TRANSITIONS.get(before, ())) or "nothing"
                raise TicketChangeRefused(
                    f"Ticket {ticket_id} is {before}: it can move to {allowed}, not to {status}."
                )
            ticket.status, ticket.updated_at = status, now
            session.add(TicketEvent(ticket_id=ticket_id, at=now, actor=actor, kind="status",
                                    from_value=before, to_value=status))  # fmt: skip
        return await self._current(ticket_id)

    async def add_note(self, ticket_id: str, actor: str, text: str) -> TicketRow:
        """An internal note for colleagues (the customer never sees it)."""
        note = text.strip()
        if not note:
            raise TicketChangeRefused("The note is empty.")
        if len(note) > MAX_NOTE_CHARS:
            raise TicketChangeRefused(f"The note is {len(note)} characters long; the limit is {MAX_NOTE_CHARS}.")
        async with self._changing(ticket_id) as (session, ticket, now):
            ticket.updated_at = now
            session.add(TicketEvent(ticket_id=ticket_id, at=now, actor=actor, kind="note", note=note))
        return await self._current(ticket_id)
