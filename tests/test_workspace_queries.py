"""The workspace's conversation list (agent/datalayer/workspace.py) on SQLite and PostgreSQL: every filter,
newest-first order, staff's own chats left out, and keyset pages that return each conversation exactly once,
ties on the start time included; the filters on the conversation facts (escalated, ticket status, tool, intent,
"did not know"), with conversations that have no facts record still listed; the audit trail of transcript views.

Each test gets an empty database: a fresh SQLite file, or a private PostgreSQL schema (tests.postgres) that is
dropped afterwards. Rows are written through ChatStore like the app writes them; start and rating times are
then set in SQL so the order is known. Facts rows are inserted directly (tests/workspace_fixtures.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from agent.datalayer import migrate
from agent.datalayer.storage import LocalStorage
from agent.datalayer.store import ChatStore
from agent.datalayer.store_rows import feedbacks, threads, users
from agent.datalayer.workspace import ConversationFilters, Cursor, Facets, InvalidCursor, WorkspaceQueries
from tests.datalayer_fixtures import chat_store, no_database_env  # noqa: F401 (fixtures)
from tests.postgres import PG_URL, private_schema, require_postgres
from tests.workspace_fixtures import add_facts
from tools.store.sql import utcnow

T0 = datetime(2026, 3, 1, 12, 0, 0)


@pytest.fixture
def store(chat_store):
    return chat_store


@dataclass
class World:
    """Who and what a test built: user identifiers, thread ids by name, and step ids by name."""

    users: dict[str, dict] = field(default_factory=dict)
    threads: dict[str, str] = field(default_factory=dict)
    steps: dict[str, str] = field(default_factory=dict)


async def set_role(store: ChatStore, identifier: str, role: str) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(update(users).where(users.c.identifier == identifier).values(role=role))


async def add_user(store: ChatStore, world: World, key: str, identifier: str, name: str, role: str = "customer"):
    world.users[key] = await store.ensure_user(identifier, name, None)
    if role != "customer":
        await set_role(store, identifier, role)


async def add_thread(store: ChatStore, world: World, key: str, owner: str | None, started: datetime,
                     messages: list[tuple[str, str, str]]) -> str:
    """A thread owned by world.users[owner] (None: nobody), started at `started`, with (step key, type, text)."""
    thread_id = str(uuid.uuid4())
    world.threads[key] = thread_id
    await store.update_thread(thread_id, name=key, user_id=world.users[owner]["id"] if owner else None)
    for n, (step_key, step_type, text) in enumerate(messages):
        step_id = str(uuid.uuid4())
        world.steps[step_key] = step_id
        moment = (started + timedelta(seconds=n + 1)).isoformat() + "Z"
        await store.upsert_step({"id": step_id, "threadId": thread_id, "type": step_type, "name": "x",
                                 "output": text, "createdAt": moment})
    await set_started(store, thread_id, started)
    return thread_id


async def set_started(store: ChatStore, thread_id: str, started: datetime) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(update(threads).where(threads.c.id == thread_id).values(created_at=started))


async def rate(store: ChatStore, world: World, step_key: str, value: int, at: datetime) -> None:
    step_id = world.steps[step_key]
    await store.save_feedback(for_id=step_id, value=value, comment=None, feedback_id=None, thread_id=None)
    async with store.engine.begin() as conn:
        await conn.execute(update(feedbacks).where(feedbacks.c.for_id == step_id).values(created_at=at))


async def build(store: ChatStore) -> World:
    """Dana (two chats), Erin (two), the lead (one, their own test chat), and one chat nobody owns."""
    world = World()
    await add_user(store, world, "dana", "dana@example.com", "Dana Example")
    await add_user(store, world, "erin", "erin@example.com", "Erin Sample")
    await add_user(store, world, "lead", "lead@larkspurgoods.example", "Lee Lead", role="lead")
    await add_thread(store, world, "d1", "dana", T0, [
        ("d1.q1", "user_message", "Where is my order 1042?"), ("d1.a1", "assistant_message", "It ships tomorrow."),
        ("d1.q2", "user_message", "Thanks!"), ("d1.a2", "assistant_message", "You're welcome.")])
    await rate(store, world, "d1.a2", 1, T0 + timedelta(minutes=5))
    await add_thread(store, world, "d2", "dana", T0 + timedelta(hours=1), [
        ("d2.q1", "user_message", "I want a refund of 100% NOW"),
        ("d2.a1", "assistant_message", "Refunds take 5 days."), ("d2.q2", "user_message", "Too slow"),
        ("d2.a2", "assistant_message", "Sorry about that."),
        ("d2.q3", "user_message", "Bye")])
    # The later answer was rated first; the earlier one last: the most recent rating is the 👎.
    await rate(store, world, "d2.a2", 1, T0 + timedelta(hours=1, minutes=2))
    await rate(store, world, "d2.a1", 0, T0 + timedelta(hours=1, minutes=9))
    await add_thread(store, world, "e1", "erin", T0 + timedelta(hours=2), [
        ("e1.q1", "user_message", "Do you ship to Canada?"), ("e1.tool", "tool", "secret tool output 77"),
        ("e1.a1", "assistant_message", "Yes, in 7 to 10 days.")])
    await add_thread(store, world, "e2", "erin", T0 + timedelta(days=1), [
        ("e2.q1", "user_message", "Is my_order late?"), ("e2.a1", "assistant_message", "Let me check.")])
    await rate(store, world, "e2.a1", 0, T0 + timedelta(days=1, minutes=1))
    await add_thread(store, world, "lead1", "lead", T0 + timedelta(days=1, hours=1), [
        ("l.q1", "user_message", "Testing the refund flow as a lead"),
        ("l.a1", "assistant_message", "Refunds take 5 days.")])
    await rate(store, world, "l.a1", 1, T0 + timedelta(days=1, hours=1, minutes=1))
    await add_thread(store, world, "nobody", None, T0 - timedelta(days=1), [("n.q1", "user_message", "hello?")])
    return world


async def listed(store: ChatStore, world: World, **filters) -> list[str]:
    """Thread keys of the first page for these filters, in the order listed."""
    page = await WorkspaceQueries(store).conversations(ConversationFilters(**filters), first=100)
    names = {thread_id: key for key, thread_id in world.threads.items()}
    return [names[row.thread_id] for row in page.rows]


async def test_the_list_is_newest_first_with_each_conversations_facts(store):
    world = await build(store)
    page = await WorkspaceQueries(store).conversations()
    assert page.next_cursor is None
    by_id = {row.thread_id: row for row in page.rows}
    assert [row.thread_id for row in page.rows] == [world.threads[k] for k in ("e2", "e1", "d2", "d1", "nobody")]

    d1, d2, e1 = by_id[world.threads["d1"]], by_id[world.threads["d2"]], by_id[world.threads["e1"]]
    assert (d1.title, d1.customer, d1.customer_name) == ("d1", "dana@example.com", "Dana Example")
    assert d1.started_at == T0
    assert (d1.customer_messages, d1.last_rating, d1.staff_owned) == (2, 1, False)
    assert (d2.customer_messages, d2.last_rating) == (3, 0)  # the most recent rating, not the last step's
    assert (e1.customer_messages, e1.last_rating) == (1, None)  # the tool step is not a customer message
    nobody = by_id[world.threads["nobody"]]
    assert (nobody.customer, nobody.customer_name, nobody.customer_messages) == (None, None, 1)


async def test_staff_chats_are_left_out_by_their_role_in_the_database(store):
    world = await build(store)
    assert "lead1" not in await listed(store, world)
    page = await WorkspaceQueries(store).conversations(ConversationFilters(include_staff=True))
    lead_rows = [row for row in page.rows if row.thread_id == world.threads["lead1"]]
    assert len(lead_rows) == 1 and lead_rows[0].staff_owned and lead_rows[0].last_rating == 1
    assert sum(row.staff_owned for row in page.rows) == 1

    # The role is read at query time: a lead demoted to customer is a customer in the list.
    await set_role(store, "lead@larkspurgoods.example", "customer")
    assert (await listed(store, world))[0] == "lead1"
    await set_role(store, "lead@larkspurgoods.example", "admin")  # an admin is staff too
    assert "lead1" not in await listed(store, world)


async def test_date_range_includes_from_and_excludes_to(store):
    world = await build(store)
    hour = timedelta(hours=1)
    assert await listed(store, world, since=T0 + hour, until=T0 + 2 * hour) == ["d2"]
    assert await listed(store, world, since=T0 + hour, until=T0 + 2 * hour + timedelta(microseconds=1)) == ["e1", "d2"]
    assert await listed(store, world, since=T0) == ["e2", "e1", "d2", "d1"]
    assert await listed(store, world, until=T0) == ["nobody"]
    assert await listed(store, world, since=T0 + timedelta(days=5)) == []


async def test_customer_filter_is_a_case_insensitive_substring_of_the_account(store):
    world = await build(store)
    assert await listed(store, world, customer="DANA@") == ["d2", "d1"]
    assert await listed(store, world, customer="  erin  ") == ["e2", "e1"]
    assert await listed(store, world, customer="erin sam") == ["e2", "e1"]  # the display name counts too
    assert await listed(store, world, customer="example.com") == ["e2", "e1", "d2", "d1"]
    assert await listed(store, world, customer="larkspurgoods") == []  # the lead's own chat stays out
    assert await listed(store, world, customer="%") == []  # wildcards are literal
    assert await listed(store, world, customer="d_na") == []


async def test_rating_filter_reads_the_last_rating(store):
    world = await build(store)
    assert await listed(store, world, rating="up") == ["d1"]
    assert await listed(store, world, rating="down") == ["e2", "d2"]  # d2 had a 👍 before its 👎
    assert await listed(store, world, rating="unrated") == ["e1", "nobody"]
    assert await listed(store, world, rating="down", customer="dana") == ["d2"]
    with pytest.raises(ValueError):
        await listed(store, world, rating="sideways")


async def test_search_reads_the_messages_case_insensitively_with_literal_wildcards(store):
    world = await build(store)
    assert await listed(store, world, search="ORDER 1042") == ["d1"]
    assert await listed(store, world, search="refunds take") == ["d2"]  # assistant messages count; not staff's
    assert await listed(store, world, search="100%") == ["d2"]
    assert await listed(store, world, search="%") == ["d2"]
    assert await listed(store, world, search="my_order") == ["e2"]  # "_" is no wildcard: d1's "my order" misses
    assert await listed(store, world, search="secret tool output") == []  # tool steps are not messages
    assert await listed(store, world, search="   ") == ["e2", "e1", "d2", "d1", "nobody"]
    assert await listed(store, world, search="refund", include_staff=True) == ["lead1", "d2"]
    assert await listed(store, world, search="days", rating="unrated", since=T0) == ["e1"]


async def test_keyset_pages_return_every_conversation_once_even_on_tied_start_times(store):
    world = World()
    await add_user(store, world, "dana", "dana@example.com", "Dana")
    await add_user(store, world, "lead", "lead@larkspurgoods.example", "Lee", role="lead")
    for n in range(23):
        # Groups of five share a start time, so most page ends fall inside a tie.
        started = T0 + timedelta(minutes=n // 5)
        await add_thread(store, world, f"t{n}", "lead" if n % 7 == 3 else "dana", started,
                         [(f"q{n}", "user_message", f"question {n}" + (" refund" if n % 2 else ""))])
        if n % 3 == 0:
            await add_facts(store.engine, world.threads[f"t{n}"], tools=["lookup_order"],
                            ticket_id=f"T-{n}" if n % 2 else None, ticket_status="open" if n % 2 else None)
    customers = [n for n in range(23) if n % 7 != 3]
    newest_first = sorted(customers, key=lambda n: (T0 + timedelta(minutes=n // 5), world.threads[f"t{n}"]),
                          reverse=True)
    queries = WorkspaceQueries(store)
    for filters, expected in (
        (ConversationFilters(), [world.threads[f"t{n}"] for n in newest_first]),
        (ConversationFilters(search="REFUND"), [world.threads[f"t{n}"] for n in newest_first if n % 2]),
        (ConversationFilters(tool="lookup_order"), [world.threads[f"t{n}"] for n in newest_first if n % 3 == 0]),
        (ConversationFilters(escalated=False, search="refund"),
         [world.threads[f"t{n}"] for n in newest_first if n % 2 and n % 3]),
    ):
        for size in (1, 4, 5):
            seen, cursor, pages = [], None, 0
            while True:
                page = await queries.conversations(filters, first=size, cursor=cursor)
                assert len(page.rows) <= size
                seen += [row.thread_id for row in page.rows]
                pages += 1
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor.encode() if pages % 2 else page.next_cursor  # text or object alike
            assert seen == expected, f"page size {size}"
            assert pages == max(1, -(-len(expected) // size))
            # The export walks the same pages itself, whatever its batch size.
            assert [row.thread_id async for row in queries.rows(filters, batch=size)] == expected, f"batch {size}"


async def test_a_cursor_after_the_last_row_gives_an_empty_last_page(store):
    world = World()
    await add_user(store, world, "dana", "dana@example.com", "Dana")
    await add_thread(store, world, "only", "dana", T0, [("q", "user_message", "hi")])
    page = await WorkspaceQueries(store).conversations(first=1)
    assert [row.thread_id for row in page.rows] == [world.threads["only"]] and page.next_cursor is None
    after = await WorkspaceQueries(store).conversations(cursor=Cursor(T0, world.threads["only"]))
    assert after.rows == [] and after.next_cursor is None


BAD_CURSORS = ["", "not base64!", "bm90IGpzb24", "WyJ4IiwiYSJd", "WzEsMl0", "WyIyMDI2LTAxLTAxIiwiIl0"]


@pytest.mark.parametrize("text", BAD_CURSORS)
def test_cursors_this_module_did_not_write_are_refused(text):
    with pytest.raises(InvalidCursor):
        Cursor.decode(text)


def test_a_cursor_survives_its_round_trip():
    cursor = Cursor(datetime(2026, 1, 2, 3, 4, 5, 678901), "thread/with?odd&chars")
    assert Cursor.decode(cursor.encode()) == cursor
    assert all(c.isalnum() or c in "-_" for c in cursor.encode())


async def build_facts(store: ChatStore, world: World) -> None:
    """Facts for every conversation of build() but e2, which has none (its facts were never recorded).

    d1 answered with a tool; d2 handed over (ticket open, a "did not know"); e1 answered after a ticket was opened
    (ticket pending, two "did not know"); the lead's own chat handed over (ticket solved); nobody's chat
    "escalated" without a ticket (the hand-over failed to open one).
    """
    await add_facts(store.engine, world.threads["d1"], outcome="answered", tools=["lookup_order"],
                    intents=["order_status"], turns=2)
    await add_facts(store.engine, world.threads["d2"], outcome="escalated", ticket_id="T-1001", ticket_status="open",
                    knowledge_misses=1, tools=["lookup_order", "create_ticket"], intents=["refund"])
    await add_facts(store.engine, world.threads["e1"], outcome="answered", ticket_id="T-1002", ticket_status="pending",
                    knowledge_misses=2, intents=["shipping"])
    await add_facts(store.engine, world.threads["lead1"], outcome="escalated", ticket_id="T-1003",
                    ticket_status="solved", tools=["lookup_order"])
    await add_facts(store.engine, world.threads["nobody"], outcome="escalated", intents=["refund"])


async def test_rows_carry_the_facts_and_a_conversation_without_facts_is_still_listed(store):
    world = await build(store)
    await build_facts(store, world)
    page = await WorkspaceQueries(store).conversations()
    by_key = {key: row for row in page.rows for key, thread_id in world.threads.items() if row.thread_id == thread_id}
    assert list(by_key) == ["e2", "e1", "d2", "d1", "nobody"]
    d2, e1, e2, nobody = by_key["d2"], by_key["e1"], by_key["e2"], by_key["nobody"]
    assert (d2.outcome, d2.ticket_id, d2.ticket_status, d2.knowledge_misses, d2.escalated) == (
        "escalated", "T-1001", "open", 1, True)
    assert (e1.outcome, e1.ticket_id, e1.ticket_status, e1.escalated) == ("answered", "T-1002", "pending", True)
    assert (e2.outcome, e2.ticket_id, e2.ticket_status, e2.knowledge_misses, e2.escalated) == (
        None, None, None, None, False)
    assert (e2.customer_messages, e2.last_rating) == (1, 0)  # turns and rating come from the steps, facts or not
    assert (nobody.outcome, nobody.ticket_id, nobody.escalated) == ("escalated", None, True)
    assert (by_key["d1"].outcome, by_key["d1"].escalated) == ("answered", False)


async def test_escalated_means_a_ticket_or_the_escalated_outcome(store):
    world = await build(store)
    await build_facts(store, world)
    assert await listed(store, world, escalated=True) == ["e1", "d2", "nobody"]
    assert await listed(store, world, escalated=False) == ["e2", "d1"]  # e2 has no facts: not escalated
    assert await listed(store, world, escalated=True, include_staff=True) == ["lead1", "e1", "d2", "nobody"]
    assert await listed(store, world, escalated=False, rating="down") == ["e2"]
    assert await listed(store, world, escalated=True, search="refund") == ["d2"]


async def test_ticket_status_filter(store):
    world = await build(store)
    await build_facts(store, world)
    assert await listed(store, world, ticket_status="open") == ["d2"]
    assert await listed(store, world, ticket_status="pending") == ["e1"]
    assert await listed(store, world, ticket_status="solved") == []  # only the lead's own chat
    assert await listed(store, world, ticket_status="solved", include_staff=True) == ["lead1"]
    assert await listed(store, world, ticket_status="open", customer="erin") == []
    with pytest.raises(ValueError):
        await listed(store, world, ticket_status="closed")


async def test_tool_and_intent_filters_match_exact_names_of_their_own_kind(store):
    world = await build(store)
    await build_facts(store, world)
    assert await listed(store, world, tool="lookup_order") == ["d2", "d1"]
    assert await listed(store, world, tool="  create_ticket ") == ["d2"]
    assert await listed(store, world, tool="lookup") == []  # exact names, not substrings
    assert await listed(store, world, tool="lookup_order", include_staff=True) == ["lead1", "d2", "d1"]
    assert await listed(store, world, intent="refund") == ["d2", "nobody"]
    assert await listed(store, world, intent="lookup_order") == []  # a tool's name is not an intent
    assert await listed(store, world, tool="refund") == []
    assert await listed(store, world, intent="refund", customer="dana") == ["d2"]
    assert await listed(store, world, intent="refund", tool="lookup_order") == ["d2"]
    assert await listed(store, world, intent="refund", tool="lookup_order", since=T0 + timedelta(hours=2)) == []


async def test_did_not_know_reads_the_knowledge_misses(store):
    world = await build(store)
    await build_facts(store, world)
    assert await listed(store, world, did_not_know=True) == ["e1", "d2"]
    assert await listed(store, world, did_not_know=False) == ["e2", "d1", "nobody"]  # no facts: no misses
    assert await listed(store, world, did_not_know=True, tool="lookup_order") == ["d2"]
    assert await listed(store, world, did_not_know=True, escalated=True, ticket_status="pending",
                        rating="unrated") == ["e1"]


async def test_facet_values_are_the_recorded_tool_and_intent_names(store):
    assert await WorkspaceQueries(store).facet_values() == Facets(tools=[], intents=[])
    world = await build(store)
    await build_facts(store, world)
    assert await WorkspaceQueries(store).facet_values() == Facets(
        tools=["create_ticket", "lookup_order"], intents=["order_status", "refund", "shipping"])


async def test_transcript_views_are_recorded_with_who_and_when(store):
    assert await store.transcript_views("t-1") == []
    await store.log_transcript_view("t-1", "lead@larkspurgoods.example", T0 + timedelta(minutes=5))
    await store.log_transcript_view("t-2", "lead@larkspurgoods.example", T0)
    await store.log_transcript_view("t-1", "admin@larkspurgoods.example", T0)
    before = utcnow()  # naive UTC, like the stored times
    await store.log_transcript_view("t-1", "kim@larkspurgoods.example")
    views = await store.transcript_views("t-1")
    assert [(v.viewer, v.viewed_at) for v in views[:2]] == [
        ("admin@larkspurgoods.example", T0), ("lead@larkspurgoods.example", T0 + timedelta(minutes=5))]
    assert views[2].viewer == "kim@larkspurgoods.example" and views[2].viewed_at >= before
    assert {v.thread_id for v in views} == {"t-1"}
