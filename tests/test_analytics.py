"""The analytics numbers (agent/datalayer/analytics.py) on SQLite and PostgreSQL, each checked exactly.

Conversations with known facts are written straight into conversation_facts and conversation_fact_items with
SQLAlchemy Core (the way agent/chat/facts.py would leave them), so every expected number below can be worked out
by hand from the table in `world`. A lead's conversation, one started before the range and one started exactly
at its end carry large numbers of their own: any of them counted would change every total.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import insert

from agent.datalayer import migrate
from agent.datalayer.analytics import AnalyticsQueries, ItemStat, Timing, nearest_rank
from agent.datalayer.models import ContentGap, ConversationFacts, FactItem
from agent.datalayer.storage import LocalStorage
from agent.datalayer.store import ChatStore
from agent.datalayer.store_rows import threads, users
from tests.datalayer_fixtures import chat_store, no_database_env  # noqa: F401 (fixtures)
from tests.postgres import PG_URL, private_schema, require_postgres

SINCE, UNTIL = datetime(2026, 3, 1), datetime(2026, 3, 21)  # 20 days
NOW = datetime(2026, 3, 20, 12, 0)
facts_table, items_table, gaps_table = ConversationFacts.__table__, FactItem.__table__, ContentGap.__table__


@pytest.fixture
def store(chat_store):
    return chat_store


@dataclass
class Facts:
    """The rows a test writes: users by role, thread ids by name."""

    store: ChatStore
    users: dict[str, str | None] = field(default_factory=dict)
    threads: dict[str, str] = field(default_factory=dict)

    async def user(self, key: str, role: str) -> None:
        user_id = str(uuid.uuid4())
        async with self.store.engine.begin() as conn:
            await conn.execute(insert(users).values(
                id=user_id, identifier=f"{key}-{user_id[:8]}@example.com", display_name=key, role=role,
                metadata={}, created_at=SINCE - timedelta(days=30)))  # fmt: skip
        self.users[key] = user_id

    async def conversation(self, key: str, owner: str | None, started: datetime, *, answered: timedelta | None,
                           came_back: timedelta | None = None, items: tuple[tuple[str, str, int, int], ...] = (),
                           **columns) -> str:
        """A conversation started at `started`, answered `answered` later (None: never), the customer's last
        message `came_back` after the start (default: the start), with FactItem rows (kind, name, uses, fails)."""
        thread_id = str(uuid.uuid4())
        self.threads[key] = thread_id
        user_id = self.users[owner] if owner else None
        row = {"thread_id": thread_id, "user_id": user_id, "started_at": started,
               "last_customer_at": started + (came_back or timedelta(0)),
               "last_answer_at": started + answered if answered is not None else None,
               "turns": 1, "errors": 0, "knowledge_misses": 0, "cards_shown": 0, "cards_confirmed": 0,
               "cards_declined": 0, "cards_expired": 0, "outcome": "answered" if answered is not None else "unanswered",
               "updated_at": started} | columns  # fmt: skip
        async with self.store.engine.begin() as conn:
            await conn.execute(insert(threads).values(id=thread_id, user_id=user_id, name=key, metadata={},
                                                      created_at=started, updated_at=started))
            await conn.execute(insert(facts_table).values(**row))
            for kind, name, uses, failures in items:
                await conn.execute(insert(items_table).values(thread_id=thread_id, kind=kind, name=name, uses=uses,
                                                              failures=failures))
        return thread_id

    async def gap(self, key: str, kind: str, question: str, asked_at: datetime, step: str | None = None,
                  embedding: bytes | None = None) -> str:
        step_id = step or str(uuid.uuid4())
        async with self.store.engine.begin() as conn:
            await conn.execute(insert(gaps_table).values(thread_id=self.threads[key], step_id=step_id, kind=kind,
                                                         question=question, asked_at=asked_at, embedding=embedding))
        return step_id


MINUTE = timedelta(minutes=1)


async def world(store: ChatStore) -> Facts:
    """Eleven customer conversations in [SINCE, UNTIL), and three that must not count."""
    f = Facts(store)
    await f.user("dana", "customer")
    await f.user("lee", "lead")
    # key, owner, started, answered after, ... (resolved? in the comment)
    await f.conversation("resolved", "dana", SINCE, answered=MINUTE, first_response_ms=800, turns=2,
                         last_rating=1, items=(("intent", "returns", 2, 0), ("tool", "order_status", 1, 0)))  # yes
    await f.conversation("anonymous", None, datetime(2026, 3, 2, 15), answered=MINUTE, first_response_ms=1200)  # yes
    await f.conversation("pending", "dana", datetime(2026, 3, 20, 1), answered=5 * MINUTE,
                         first_response_ms=400)  # answered 11 h before NOW: pending
    await f.conversation("thumbs_down", "dana", datetime(2026, 3, 5, 9), answered=MINUTE, first_response_ms=2000,
                         turns=3, last_rating=0, items=(("intent", "returns", 1, 0),))  # no: 👎
    await f.conversation("error", "dana", datetime(2026, 3, 5, 18), answered=MINUTE, first_response_ms=5000,
                         errors=1, outcome="error", items=(("tool", "order_status", 2, 1),))  # no: an error
    await f.conversation("escalated", "dana", datetime(2026, 3, 6, 10), answered=MINUTE, first_response_ms=1500,
                         turns=4, ticket_id="T-1", ticket_status="open", last_rating=1, outcome="escalated",
                         cards_shown=1, cards_confirmed=1, items=(("tool", "create_ticket", 1, 0),))  # no: a ticket
    await f.conversation("came_back", "dana", datetime(2026, 3, 7, 10), answered=MINUTE, came_back=5 * MINUTE,
                         first_response_ms=900, turns=2, items=(("intent", "shipping", 1, 0),))  # no: wrote again
    await f.conversation("unanswered", "dana", datetime(2026, 3, 8, 8), answered=None, knowledge_misses=1)
    await f.conversation("cards", "dana", datetime(2026, 3, 8, 20), answered=MINUTE, first_response_ms=700,
                         cards_shown=4, cards_confirmed=1, cards_declined=1, cards_expired=1,
                         items=(("intent", "cancel_order", 1, 0),))  # yes
    await f.conversation("exactly_24h", "dana", NOW - timedelta(hours=25), answered=timedelta(hours=1),
                         first_response_ms=1000)  # last answer exactly 24 h before NOW: resolved
    await f.conversation("search", None, datetime(2026, 3, 10, 12), answered=MINUTE, first_response_ms=3000,
                         turns=2, items=(("tool", "knowledge_search", 3, 0),))  # yes
    # Never counted: a lead's own chat, one started the day before the range, one started at its (exclusive) end.
    noisy = {"answered": MINUTE, "first_response_ms": 1, "turns": 50, "errors": 3, "ticket_id": "T-9",
             "last_rating": 0, "cards_shown": 9, "cards_declined": 9,
             "items": (("intent", "returns", 5, 0), ("tool", "order_status", 4, 4))}  # fmt: skip
    await f.conversation("staff", "lee", datetime(2026, 3, 5, 12), **noisy)
    await f.conversation("before", "dana", SINCE - timedelta(microseconds=1), **noisy)
    await f.conversation("at_end", "dana", UNTIL, **noisy)
    return f


async def test_every_number_for_a_range(store):
    await world(store)
    a = await AnalyticsQueries(store).summary(SINCE, UNTIL, NOW)

    assert (a.conversations, a.customer_messages) == (11, 19)
    assert (a.answered, a.resolved, a.pending) == (10, 5, 1)
    assert a.resolution_rate == 5 / 10
    assert (a.escalated, a.escalation_rate) == (1, 1 / 11)
    assert (a.rated_up, a.rated_down, a.rated) == (2, 1, 3)
    assert a.csat == 2 / 3 and a.rating_response_rate == 3 / 10
    # 400 700 800 900 1000 1200 1500 2000 3000 5000: p50 at rank 5; p90 at rank ceil(0.9·10) = 9, not 10.
    assert (a.first_responses, a.first_response_p50_ms, a.first_response_p90_ms) == (10, 1000, 3000)
    assert a.intents == [ItemStat("returns", 2, 3, 0), ItemStat("cancel_order", 1, 1, 0),
                         ItemStat("shipping", 1, 1, 0)]  # fmt: skip
    assert a.tools == [ItemStat("order_status", 2, 3, 1), ItemStat("knowledge_search", 1, 3, 0),
                       ItemStat("create_ticket", 1, 1, 0)]  # fmt: skip
    assert [t.error_share for t in a.tools] == [1 / 3, 0.0, 0.0]
    c = a.cards
    assert (c.shown, c.confirmed, c.declined, c.expired, c.not_answered) == (5, 2, 1, 1, 1)


async def test_volume_per_day_covers_every_day_of_the_range(store):
    await world(store)
    a = await AnalyticsQueries(store).summary(SINCE, UNTIL, NOW)

    assert [d.day for d in a.days] == [date(2026, 3, 1) + timedelta(days=n) for n in range(20)]
    busy = {d.day.day: (d.conversations, d.customer_messages) for d in a.days if d.conversations}
    assert busy == {1: (1, 2), 2: (1, 1), 5: (2, 4), 6: (1, 4), 7: (1, 2), 8: (2, 2), 10: (1, 2), 19: (1, 1),
                    20: (1, 1)}  # fmt: skip
    assert all(d.customer_messages == 0 for d in a.days if not d.conversations)
    assert sum(d.conversations for d in a.days) == a.conversations


async def test_top_lists_are_cut_to_the_setting(store):
    await world(store)
    a = await AnalyticsQueries(store, top=2).summary(SINCE, UNTIL, NOW)
    assert [i.name for i in a.intents] == ["returns", "cancel_order"]
    assert [t.name for t in a.tools] == ["order_status", "knowledge_search"]


async def test_pending_turns_resolved_once_24_hours_pass(store):
    await world(store)
    queries = AnalyticsQueries(store)
    later = await queries.summary(SINCE, UNTIL, datetime(2026, 3, 21, 1, 5))  # 24 h after the pending answer
    assert (later.resolved, later.pending) == (6, 0)
    earlier = await queries.summary(SINCE, UNTIL, NOW - timedelta(hours=1))  # "exactly_24h" is then 23 h old
    assert (earlier.resolved, earlier.pending) == (4, 2)


async def test_hand_over_times_are_percentiles_over_the_conversations_a_human_took(store):
    f = await world(store)
    for n, (pickup, first_reply) in enumerate([(60_000, 90_000), (120_000, 300_000), (30_000, None)]):
        await f.conversation(f"taken_{n}", "dana", datetime(2026, 3, 11 + n, 9), answered=MINUTE, ticket_id=f"T-{n}",
                             outcome="escalated", human_pickup_ms=pickup, human_first_reply_ms=first_reply)
    await f.conversation("staff_taken", "lee", datetime(2026, 3, 11, 9), answered=MINUTE, human_pickup_ms=1)
    a = await AnalyticsQueries(store).summary(SINCE, UNTIL, NOW)
    assert a.human_pickup == Timing(3, 60_000, 120_000)  # ranks ceil(.5·3) = 2 and ceil(.9·3) = 3
    assert a.human_first_reply == Timing(2, 90_000, 300_000)
    empty = await AnalyticsQueries(store).summary(datetime(2025, 1, 1), datetime(2025, 1, 3), NOW)
    assert empty.human_pickup == Timing() and empty.human_first_reply == Timing()


async def test_an_empty_range_has_no_rates(store):
    await world(store)
    a = await AnalyticsQueries(store).summary(datetime(2025, 1, 1), datetime(2025, 1, 3), NOW)
    assert (a.conversations, a.customer_messages, a.answered, a.resolved, a.pending, a.escalated) == (0,) * 6
    assert (a.resolution_rate, a.escalation_rate, a.csat, a.rating_response_rate) == (None,) * 4
    assert (a.first_responses, a.first_response_p50_ms, a.first_response_p90_ms) == (0, None, None)
    assert a.intents == [] and a.tools == [] and a.cards.shown == 0
    assert [(d.day, d.conversations) for d in a.days] == [(date(2025, 1, 1), 0), (date(2025, 1, 2), 0)]


async def test_a_staff_only_history_counts_nothing_and_an_answered_unrated_one_has_no_csat(store):
    f = Facts(store)
    await f.user("lee", "lead")
    await f.user("ada", "admin")
    await f.user("dana", "customer")
    for owner in ("lee", "ada"):
        await f.conversation(owner, owner, SINCE, answered=MINUTE, last_rating=1, first_response_ms=10)
    assert (await AnalyticsQueries(store).summary(SINCE, UNTIL, NOW)).conversations == 0
    await f.conversation("dana", "dana", SINCE, answered=MINUTE)
    a = await AnalyticsQueries(store).summary(SINCE, UNTIL, NOW)
    assert (a.conversations, a.answered, a.resolved, a.csat, a.rating_response_rate) == (1, 1, 1, None, 0.0)
    assert a.first_response_p50_ms is None


async def test_a_bad_range_is_refused(store):
    with pytest.raises(ValueError):
        await AnalyticsQueries(store).summary(UNTIL, SINCE, NOW)


def test_nearest_rank_is_exact_in_integers():
    assert [nearest_rank(50, n) for n in (1, 2, 3, 4, 10)] == [1, 1, 2, 2, 5]
    assert [nearest_rank(90, n) for n in (1, 9, 10, 11, 100)] == [1, 9, 9, 10, 90]
