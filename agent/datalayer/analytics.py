"""The workspace's analytics over the conversation facts (conversation_facts, conversation_fact_items), in SQL.

Every number is an aggregate computed by the database (SQLite or PostgreSQL, plain SQLAlchemy Core) in three
queries run side by side: counts per start day (summed for the totals), the percentile values, and intents and
tools. No row per conversation comes back to Python: at most one per day of the range, one per percentile and
one per intent or tool name. Measured on PostgreSQL with 100,000 conversations: ~120 ms for a 30-day range of
33,000 conversations, ~250 ms with all 100,000 in range (on a busy 2-core machine).

Definitions (the analytics page's footnotes say the same):

- The range [since, until) selects conversations by `started_at` (naive UTC). Conversations owned by staff
  (the owner's role is in `staff_roles`, lead or admin) never count; conversations nobody owns do.
- Volume per day: conversations started that day, and their customer messages (the sum of `turns`), counted on
  the day the conversation started. Counting the `user_message` steps by their own day would need a scan of
  the steps table (no index on type and time): 300-500 ms alone at 100,000 conversations of six steps, more
  than all of the above, for a number that differs only for conversations that cross midnight.
- answered: `last_answer_at` is set. resolved: answered, with no ticket, no 👎 as the last rating, no error, no
  customer message after the last answer, and the last answer at least 24 hours before `now`. pending: the same,
  but the last answer less than 24 hours before `now` (the customer may still come back). Automated resolution
  rate = resolved / answered.
- Escalation rate = conversations with a ticket / conversations.
- CSAT = 👍 / (👍 + 👎) over each conversation's last rating; rating response rate = rated / answered.
- First response p50 / p90: nearest-rank percentiles of `first_response_ms` (the value at rank ceil(p·n) in
  ascending order) over the conversations that have one, picked with window functions (row_number, count) in
  one sort, the same on both databases (SQLite has no percentile_cont or percentile_disc).
- Top intents: conversations per intent (and total uses); top tools: uses, failures and error share =
  failures / uses; the `top` most frequent of each.
- Cards: the sums of shown, confirmed, declined and expired; not answered = shown - the other three.
- A rate whose denominator is zero is None (the page shows "—").
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer import models
from agent.datalayer.db import parse_ts
from agent.datalayer.store_base import StoreBase
from agent.datalayer.models import STAFF_ROLES
from agent.datalayer.store_rows import not_staff, users

RESOLUTION_WINDOW = timedelta(hours=24)  # a customer silent this long after the last answer was helped
PERCENTILES = (50, 90)  # first-response percentiles, in percent (integers: exact ranks, no float rounding)
DEFAULT_TOP = 10
facts, items = models.ConversationFacts.__table__, models.FactItem.__table__


@dataclass(frozen=True)
class DayVolume:
    day: date
    conversations: int
    customer_messages: int


@dataclass(frozen=True)
class ItemStat:
    """An intent or a tool: in how many conversations, how often, how often it failed (tools only)."""

    name: str
    conversations: int
    uses: int
    failures: int

    @property
    def error_share(self) -> float | None:
        return ratio(self.failures, self.uses)


@dataclass(frozen=True)
class CardStats:
    shown: int
    confirmed: int
    declined: int
    expired: int

    @property
    def not_answered(self) -> int:
        return self.shown - self.confirmed - self.declined - self.expired


@dataclass(frozen=True)
class Timing:
    """A duration measured in some conversations: in how many, and its nearest-rank p50 and p90."""

    measured: int = 0
    p50_ms: int | None = None
    p90_ms: int | None = None


@dataclass(frozen=True)
class Analytics:
    since: datetime
    until: datetime
    now: datetime
    conversations: int
    customer_messages: int
    days: list[DayVolume]  # every day of the range, oldest first, zeros included
    answered: int
    resolved: int
    pending: int
    escalated: int
    rated_up: int
    rated_down: int
    first_responses: int  # conversations with a first-response time
    first_response_p50_ms: int | None
    first_response_p90_ms: int | None
    intents: list[ItemStat]
    tools: list[ItemStat]
    cards: CardStats
    # Taken over by a human: escalation -> pick-up, and -> the human's first message (the first hand-over only).
    human_pickup: Timing = Timing()
    human_first_reply: Timing = Timing()

    @property
    def resolution_rate(self) -> float | None:
        return ratio(self.resolved, self.answered)

    @property
    def escalation_rate(self) -> float | None:
        return ratio(self.escalated, self.conversations)

    @property
    def rated(self) -> int:
        return self.rated_up + self.rated_down

    @property
    def csat(self) -> float | None:
        return ratio(self.rated_up, self.rated)

    @property
    def rating_response_rate(self) -> float | None:
        return ratio(self.rated, self.answered)


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def nearest_rank(percent: int, n: int) -> int:
    """The 1-based rank of the `percent`th percentile among n values: ceil(percent·n / 100), in integers."""
    return max(1, -(-percent * n // 100))


def _count(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _total(column: Any) -> Any:
    return func.coalesce(func.sum(column), 0)


def facts_in_range(since: datetime, until: datetime, staff_roles: Collection[str]) -> tuple[Any, list[Any]]:
    """(FROM clause, WHERE conditions) for the customers' conversations started in [since, until)."""
    source = facts.outerjoin(users, facts.c.user_id == users.c.id)
    where = [facts.c.started_at >= since, facts.c.started_at < until, not_staff(staff_roles)]
    return source, where


COUNTS = ("conversations", "customer_messages", "answered", "resolved", "pending", "escalated", "rated_up",
          "rated_down", "first_responses", "shown", "confirmed", "declined", "expired")


def _per_day_query(source: Any, where: list[Any], now: datetime) -> Any:
    """Every count, per start day: one pass over the facts gives the daily volume and (summed) the totals."""
    answered = facts.c.last_answer_at.is_not(None)
    settled = and_(
        answered,
        facts.c.ticket_id.is_(None),
        func.coalesce(facts.c.last_rating, -1) != 0,
        facts.c.errors == 0,
        or_(facts.c.last_customer_at.is_(None), facts.c.last_customer_at <= facts.c.last_answer_at),
    )
    cutoff = now - RESOLUTION_WINDOW
    day = func.date(facts.c.started_at)
    columns = (
        func.count(), _total(facts.c.turns), _count(answered), _count(and_(settled, facts.c.last_answer_at <= cutoff)),
        _count(and_(settled, facts.c.last_answer_at > cutoff)), _count(facts.c.ticket_id.is_not(None)),
        _count(facts.c.last_rating == 1), _count(facts.c.last_rating == 0),
        _count(facts.c.first_response_ms.is_not(None)), _total(facts.c.cards_shown), _total(facts.c.cards_confirmed),
        _total(facts.c.cards_declined), _total(facts.c.cards_expired),
    )  # fmt: skip
    labelled = [column.label(name) for column, name in zip(columns, COUNTS, strict=True)]
    return select(day.label("day"), *labelled).select_from(source).where(*where).group_by(day)


def _as_day(value: Any) -> date:
    # date() gives a date on PostgreSQL and 'YYYY-MM-DD' text on SQLite.
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _percentiles_query(source: Any, where: list[Any], value: Any = facts.c.first_response_ms) -> Any:
    """(position, n, value) at each nearest rank of a duration column, in one sort: window functions give
    each value's rank and the count, and the rank wanted is ceil(p·n / 100), in integer arithmetic."""
    ranked = (
        select(value.label("ms"), func.row_number().over(order_by=value).label("position"),
               func.count().over().label("n"))
        .select_from(source).where(*where, value.is_not(None))
        .subquery()
    )  # fmt: skip
    wanted = [ranked.c.position == (ranked.c.n * percent + 99) // 100 for percent in PERCENTILES]
    return select(ranked.c.position, ranked.c.n, ranked.c.ms).where(or_(*wanted))


def _percentiles(rows: list[Any]) -> dict[int, int]:
    return {p: int(r.ms) for r in rows for p in PERCENTILES if int(r.position) == nearest_rank(p, int(r.n))}


def _timing(rows: list[Any]) -> Timing:
    found = _percentiles(rows)
    return Timing(int(rows[0].n) if rows else 0, found.get(50), found.get(90))


def _items_query(source: Any, where: list[Any]) -> Any:
    """Conversations, uses and failures per (kind, name): intents and tools in one pass."""
    return (
        select(items.c.kind, items.c.name, func.count().label("conversations"), _total(items.c.uses).label("uses"),
               _total(items.c.failures).label("failures"))
        .select_from(source.join(items, items.c.thread_id == facts.c.thread_id))
        .where(*where)
        .group_by(items.c.kind, items.c.name)
    )  # fmt: skip


def _top(stats: list[ItemStat], kind: str, top: int) -> list[ItemStat]:
    """The `top` intents (most conversations first) or tools (most uses first), ties by name."""
    if kind == "intent":
        return sorted(stats, key=lambda s: (-s.conversations, -s.uses, s.name))[:top]
    return sorted(stats, key=lambda s: (-s.uses, -s.conversations, s.name))[:top]


def _volume(rows: list[Any], since: datetime, until: datetime) -> tuple[dict[str, int], list[DayVolume]]:
    """The totals (the per-day counts summed) and every day of the range, zeros included."""
    totals = dict.fromkeys(COUNTS, 0)
    found: dict[date, tuple[int, int]] = {}
    for row in rows:
        m = row._mapping
        for name in COUNTS:
            totals[name] += int(m[name])
        found[_as_day(m["day"])] = (int(m["conversations"]), int(m["customer_messages"]))
    first, last = since.date(), (until - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return totals, [DayVolume(d, *found.get(d, (0, 0))) for d in days]


class AnalyticsQueries:
    """The analytics page's numbers, in the chat store's database: three queries (per-day counts, percentiles,
    intents and tools, and the two hand-over times), run side by side, each in its own retried read transaction."""

    def __init__(self, store: StoreBase, staff_roles: Collection[str] = STAFF_ROLES, top: int = DEFAULT_TOP) -> None:
        self.store = store
        self.staff_roles = frozenset(staff_roles)
        self.top = top

    async def _rows(self, operation: str, query: Any) -> list[Any]:
        async def run(conn: AsyncConnection) -> list[Any]:
            return list((await conn.execute(query)).all())

        return await self.store.transaction(operation, None, run)

    async def summary(self, since: datetime, until: datetime, now: datetime) -> Analytics:
        """Every number for the conversations started in [since, until), as of `now` (all naive UTC or aware)."""
        since, until, now = parse_ts(since), parse_ts(until), parse_ts(now)
        if since is None or until is None or now is None or until <= since:
            raise ValueError(f"need since < until and a now, not {since!r}, {until!r}, {now!r}")
        source, where = facts_in_range(since, until, self.staff_roles)
        per_day, ranks, item_rows, pickups, first_replies = await asyncio.gather(
            self._rows("analytics_counts", _per_day_query(source, where, now)),
            self._rows("analytics_percentiles", _percentiles_query(source, where)),
            self._rows("analytics_items", _items_query(source, where)),
            self._rows("analytics_pickup", _percentiles_query(source, where, facts.c.human_pickup_ms)),
            self._rows("analytics_first_reply", _percentiles_query(source, where, facts.c.human_first_reply_ms)),
        )
        totals, days = _volume(per_day, since, until)
        percentiles = _percentiles(ranks)
        stats = {kind: [ItemStat(r.name, int(r.conversations), int(r.uses), int(r.failures))
                        for r in item_rows if r.kind == kind] for kind in ("intent", "tool")}  # fmt: skip
        cards = CardStats(*(totals.pop(key) for key in ("shown", "confirmed", "declined", "expired")))
        return Analytics(
            since=since, until=until, now=now, **totals, days=days, first_response_p50_ms=percentiles.get(50),
            first_response_p90_ms=percentiles.get(90), intents=_top(stats["intent"], "intent", self.top),
            tools=_top(stats["tool"], "tool", self.top), cards=cards, human_pickup=_timing(pickups),
            human_first_reply=_timing(first_replies),
        )  # fmt: skip
