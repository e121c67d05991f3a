"""The escalation queue's operations (tools/store/tickets.py) and the hand-over ticket's history, on SQLite and
PostgreSQL: the queue's order, filters and pages, assignments, notes, the status workflow, who and when.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

import tools.store.tickets as tickets_module
from tests.postgres import PG_URL, private_schema, require_postgres
from tests.store_fixtures import DANA, OMAR, Shop, any_shop, shop  # noqa: F401  (fixtures)
from tools.errors import InvalidTicketCursor, TicketChangeRefused, TicketNotFound, ToolError
from tools.store.db import StoreDatabase
from tools.store.migrate import MIGRATIONS
from tools.store.models import Ticket, TicketEvent
from tools.store.sql import make_engine, utcnow
from tools.store.tickets import MAX_NOTE_CHARS, TRANSITIONS, TicketFilters, TicketQueue

LEE, KIM = "lead@larkspurgoods.example", "kim@larkspurgoods.example"
START = datetime(2026, 11, 20, 9, 0)


async def add_ticket(db: StoreDatabase, ticket_id: str, created: datetime, *, status: str = "open",
                     reason: str = "customer request", customer: str | None = DANA, assignee: str | None = None,
                     summary: str = "Parcel lost.") -> None:  # fmt: skip
    async with db.session() as session:
        session.add(Ticket(id=ticket_id, conversation_id=f"conv-{ticket_id}", status=status, reason=reason,
                           summary=summary, transcript_url="", created_at=created, updated_at=created,
                           customer_id=customer, assignee=assignee))  # fmt: skip


async def events(db: StoreDatabase, ticket_id: str) -> list[tuple[str, str, str | None, str | None, str | None]]:
    detail = await TicketQueue(db).get(ticket_id)
    return [(e.actor, e.kind, e.from_value, e.to_value, e.note) for e in detail.events]


async def test_a_hand_over_records_its_creation_with_a_workspace_link(any_shop: Shop) -> None:
    before = utcnow()
    result = await any_shop.call("transfer_to_human_agents", {"summary": "Parcel lost."}, conversation="conv-9")
    ticket_id = result.data["ticket_id"]
    detail = await TicketQueue(any_shop.db).get(ticket_id)
    assert detail.ticket.customer_id == DANA and detail.ticket.customer_name == "Dana Whitfield"
    assert detail.ticket.customer_email == "dana@example.com" and detail.ticket.assignee is None
    assert [(e.actor, e.kind, e.to_value) for e in detail.events] == [("assistant", "created", "open")]
    assert before <= detail.events[0].at <= utcnow() and detail.ticket.updated_at == detail.ticket.created_at
    async with any_shop.db.read() as session:
        url = (await session.get_one(Ticket, ticket_id)).transcript_url
    assert url == f"{any_shop.settings.store.public_url}/workspace/conversations/conv-9"


async def test_a_customer_back_on_a_pending_ticket_opens_it_again(shop: Shop) -> None:
    first = await shop.call("transfer_to_human_agents", {"summary": "Parcel lost."}, conversation="conv-5")
    ticket_id = first.data["ticket_id"]
    await TicketQueue(shop.db).move(ticket_id, LEE, "pending")
    again = await shop.call("transfer_to_human_agents", {"summary": "Still no parcel."}, conversation="conv-5")
    assert again.data["ticket_id"] == ticket_id and again.data["status"] == "open"
    detail = await TicketQueue(shop.db).get(ticket_id)
    assert detail.ticket.status == "open" and detail.ticket.summary == "Still no parcel."
    assert [(e.actor, e.kind, e.from_value, e.to_value) for e in detail.events][-2:] == [
        ("assistant", "note", None, None), ("assistant", "status", "pending", "open")]


async def test_the_queue_lists_open_and_pending_oldest_first_with_filters(any_shop: Shop) -> None:
    db = any_shop.db
    await add_ticket(db, "T-C", START + timedelta(hours=2), status="pending", assignee=LEE, reason="policy")
    await add_ticket(db, "T-A", START, customer=None)
    await add_ticket(db, "T-S", START - timedelta(days=1), status="solved", assignee=LEE)
    await add_ticket(db, "T-B", START + timedelta(hours=1), assignee=KIM, customer=OMAR)
    queue = TicketQueue(db)

    async def ids(filters: TicketFilters | None = None) -> list[str]:
        return [row.id for row in (await queue.page(filters)).rows]

    assert await ids() == ["T-A", "T-B", "T-C"]
    first = (await queue.page()).rows[0]
    assert first.customer_id is None and first.customer_name is None and first.moves == ("pending", "solved")
    assert await ids(TicketFilters(statuses=("solved",))) == ["T-S"]
    assert await ids(TicketFilters(statuses=("open", "pending", "solved"))) == ["T-S", "T-A", "T-B", "T-C"]
    assert await ids(TicketFilters(assignee=LEE)) == ["T-C"]
    assert await ids(TicketFilters(unassigned=True)) == ["T-A"]
    assert await ids(TicketFilters(reason="policy")) == ["T-C"]
    assert await ids(TicketFilters(statuses=("pending",), assignee=KIM)) == []
    assert await queue.reasons() == ["customer request", "policy"]
    with pytest.raises(ValueError):
        TicketFilters(statuses=("closed",))


async def test_pages_never_skip_or_repeat_tickets_made_at_the_same_moment(any_shop: Shop, monkeypatch) -> None:
    made = [f"T-{n:02d}" for n in range(7)]
    for n, ticket_id in enumerate(made):
        await add_ticket(any_shop.db, ticket_id, START + timedelta(seconds=n // 3))  # three share each second
    queue, seen, cursor = TicketQueue(any_shop.db), [], None
    for _ in range(5):
        page = await queue.page(first=2, cursor=cursor)
        seen += [row.id for row in page.rows]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor.encode()
    assert seen == made
    monkeypatch.setattr(tickets_module, "EXPORT_BATCH", 3)
    assert [row.id async for row in queue.export()] == made
    for bad in ("not-a-cursor", "W10=", ""):
        with pytest.raises(InvalidTicketCursor):
            await queue.page(cursor=bad or "e30")


async def test_assignments_and_notes_record_who_and_when(any_shop: Shop) -> None:
    db, queue = any_shop.db, TicketQueue(any_shop.db)
    await add_ticket(db, "T-1", START)
    before = utcnow()
    row = await queue.assign("T-1", LEE, LEE)
    assert row.assignee == LEE and row.updated_at >= before
    await queue.assign("T-1", LEE, LEE)  # a second click changes nothing
    await queue.assign("T-1", KIM, KIM)
    await queue.add_note("T-1", KIM, "  Called the courier; parcel found.  ")
    await queue.assign("T-1", KIM, None)
    assert (await queue.get("T-1")).ticket.assignee is None
    assert await events(db, "T-1") == [
        (LEE, "assigned", None, LEE, None),
        (KIM, "assigned", LEE, KIM, None),
        (KIM, "note", None, None, "Called the courier; parcel found."),
        (KIM, "assigned", KIM, None, None),
    ]
    detail = await queue.get("T-1")
    assert all(before <= e.at <= utcnow() for e in detail.events)
    assert detail.ticket.updated_at == detail.events[-1].at
    for bad in ("", "   ", "x" * (MAX_NOTE_CHARS + 1)):
        with pytest.raises(TicketChangeRefused):
            await queue.add_note("T-1", LEE, bad)
    assert len((await queue.get("T-1")).events) == 4


async def test_the_workflow_allows_its_moves_and_refuses_the_rest(any_shop: Shop) -> None:
    db, queue = any_shop.db, TicketQueue(any_shop.db)
    await add_ticket(db, "T-1", START)
    for status in ("pending", "open", "solved", "open", "pending", "solved"):  # every allowed move
        assert (await queue.move("T-1", LEE, status)).status == status
    assert [(kind, old, new) for _, kind, old, new, _ in await events(db, "T-1")] == [
        ("status", "open", "pending"), ("status", "pending", "open"), ("status", "open", "solved"),
        ("status", "solved", "open"), ("status", "open", "pending"), ("status", "pending", "solved")]
    recorded = await events(db, "T-1")
    for status in ("pending", "solved", "closed", ""):  # solved only reopens
        with pytest.raises(TicketChangeRefused, match="solved: it can move to open"):
            await queue.move("T-1", LEE, status)
    await queue.move("T-1", LEE, "open")
    with pytest.raises(TicketChangeRefused, match="not to open"):
        await queue.move("T-1", LEE, "open")
    assert len(await events(db, "T-1")) == len(recorded) + 1, "a refused move records nothing"
    assert issubclass(TicketChangeRefused, ToolError) and set(TRANSITIONS) == {"open", "pending", "solved"}


async def test_an_unknown_ticket_is_a_typed_not_found(any_shop: Shop) -> None:
    queue = TicketQueue(any_shop.db)
    for attempt in (queue.get("T-NOPE"), queue.assign("T-NOPE", LEE, LEE), queue.move("T-NOPE", LEE, "solved"),
                    queue.add_note("T-NOPE", LEE, "hello")):  # fmt: skip
        with pytest.raises(TicketNotFound, match="T-NOPE"):
            await attempt


async def test_two_leads_at_once_both_recorded_and_one_solve_wins(any_shop: Shop) -> None:
    db, queue = any_shop.db, TicketQueue(any_shop.db)
    await add_ticket(db, "T-1", START)
    await asyncio.gather(queue.assign("T-1", LEE, LEE), queue.assign("T-1", KIM, KIM))
    assigned = [(actor, old, new) for actor, kind, old, new, _ in await events(db, "T-1") if kind == "assigned"]
    assert len(assigned) == 2 and assigned[0][1] is None and assigned[1][1] == assigned[0][2]
    assert (await queue.get("T-1")).ticket.assignee == assigned[1][2], "the last write wins"
    outcomes = await asyncio.gather(queue.move("T-1", LEE, "solved"), queue.move("T-1", KIM, "solved"),
                                    return_exceptions=True)  # fmt: skip
    assert sorted(type(o).__name__ for o in outcomes) == ["TicketChangeRefused", "TicketRow"], outcomes
    assert [kind for _, kind, *_ in await events(db, "T-1")].count("status") == 1


# --- the migration that brought the queue, over a store with tickets in it


def _upgrade_to(connection, revision: str, schema: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.upgrade(config, revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_store(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", ""
        return
    require_postgres()
    with private_schema() as schema:
        yield PG_URL, schema


async def test_migration_0002_keeps_tickets_and_their_status_check(empty_store) -> None:
    url, schema = empty_store
    engine = make_engine(url)
    prefix = f'"{schema}".' if schema else ""
    try:
        async with engine.begin() as conn:
            if schema:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await conn.run_sync(_upgrade_to, "0001", schema)
            await conn.execute(text(
                f"INSERT INTO {prefix}store_tickets (id, conversation_id, status, reason, summary, transcript_url, "
                "created_at) VALUES ('T-OLD', 'c1', 'open', 'customer request', 'Parcel lost.', '', :at)"
            ), {"at": START})  # fmt: skip
            await conn.run_sync(_upgrade_to, "head", schema)
    finally:
        await engine.dispose()
    db = StoreDatabase(url, schema)
    try:
        queue = TicketQueue(db)
        row = (await queue.get("T-OLD")).ticket
        assert (row.status, row.updated_at, row.assignee) == ("open", START, None)
        await queue.assign("T-OLD", LEE, LEE)
        assert await events(db, "T-OLD") == [(LEE, "assigned", None, LEE, None)]
        with pytest.raises(IntegrityError):  # the status CHECK survived SQLite's table copy
            async with db.session() as session:
                (await session.get_one(Ticket, "T-OLD")).status = "closed"
        with pytest.raises(IntegrityError):
            async with db.session() as session:
                session.add(TicketEvent(ticket_id="T-OLD", at=START, actor=LEE, kind="deleted"))
        async with db.session() as session:  # deleting a ticket deletes its history
            await session.delete(await session.get_one(Ticket, "T-OLD"))
        async with db.read() as session:
            assert (await session.scalars(select(TicketEvent))).all() == []
    finally:
        await db.dispose()
