"""The conversation list's filters, as SQL conditions over threads, their owner (users) and their facts record.

The query joins `conversation_facts` with an outer join: a conversation nobody has recorded facts for yet (an
old one, or one whose facts failed to write) is still listed, and counts as not escalated, without a ticket,
and not "the assistant did not know". Filters on tools and intents are EXISTS subqueries on
conversation_fact_items(kind, name, thread_id), which its index answers without touching the table.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, exists, func, not_, or_, select

from agent.datalayer import models
from agent.datalayer.db import parse_ts
from agent.datalayer.store_rows import feedbacks, like, not_staff, steps, threads, users
from tools.store.models import TICKET_STATUSES

facts, fact_items = models.ConversationFacts.__table__, models.FactItem.__table__

CUSTOMER_MESSAGE = "user_message"
MESSAGE_TYPES = ("user_message", "assistant_message")
ESCALATED_OUTCOME = "escalated"
Rating = Literal["up", "down", "unrated"]
RATINGS: tuple[str, ...] = ("up", "down", "unrated")


@dataclass(frozen=True)
class ConversationFilters:
    """All optional. `since` is inclusive and `until` exclusive (naive UTC, like the stored times); `customer`
    and `search` are case-insensitive substrings in which % and _ are literal; `tool` and `intent` are exact
    names (see WorkspaceQueries.facet_values)."""

    since: datetime | None = None
    until: datetime | None = None
    customer: str | None = None  # in the owner's identifier or display name
    rating: Rating | None = None  # the last rating: up (1), down (0), or no rating at all
    search: str | None = None  # in the text of the conversation's messages (customer's and assistant's)
    include_staff: bool = False  # staff's own chats too
    escalated: bool | None = None  # handed over to a person: a ticket, or the outcome "escalated"
    ticket_status: str | None = None  # the hand-over ticket's status: open, pending or solved
    tool: str | None = None  # a tool that ran in the conversation
    intent: str | None = None  # an intent recognised in the conversation
    did_not_know: bool | None = None  # True: at least one question answered "I don't know"; False: none


def customer_messages() -> Any:
    return (
        select(func.count())
        .select_from(steps)
        .where(steps.c.thread_id == threads.c.id, steps.c.type == CUSTOMER_MESSAGE)
        .scalar_subquery()
    )


def last_rating() -> Any:
    return (
        select(feedbacks.c.value)
        .select_from(feedbacks.join(steps, steps.c.id == feedbacks.c.for_id))
        # feedbacks.thread_id (indexed; the rated step's thread, set by save_feedback) leads the plan, so a
        # thread is not walked through its steps; the steps condition keeps the rule exact.
        .where(feedbacks.c.thread_id == threads.c.id, steps.c.thread_id == threads.c.id)
        .order_by(feedbacks.c.created_at.desc(), steps.c.created_at.desc(), steps.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _rated() -> Any:
    return exists().where(feedbacks.c.thread_id == threads.c.id, steps.c.thread_id == threads.c.id,
                          feedbacks.c.for_id == steps.c.id)


def _escalated() -> Any:
    return or_(facts.c.ticket_id.is_not(None), facts.c.outcome == ESCALATED_OUTCOME)


def _not_escalated() -> Any:
    # Spelled out rather than NOT(...): without a facts row both columns are NULL, and NOT(NULL) drops the row.
    return and_(facts.c.ticket_id.is_(None), or_(facts.c.outcome.is_(None), facts.c.outcome != ESCALATED_OUTCOME))


def _has_item(kind: str, name: str) -> Any:
    return exists().where(fact_items.c.kind == kind, fact_items.c.name == name, fact_items.c.thread_id == threads.c.id)


def _text(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _rating(rating: str | None) -> list[Any]:
    if rating is None:
        return []
    if rating == "up":
        return [last_rating() == 1]
    if rating == "down":
        return [last_rating() == 0]
    if rating == "unrated":
        return [not_(_rated())]
    raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")


def _facts(filters: ConversationFilters) -> list[Any]:
    where: list[Any] = []
    if filters.escalated is not None:
        where.append(_escalated() if filters.escalated else _not_escalated())
    if filters.ticket_status is not None:
        if filters.ticket_status not in TICKET_STATUSES:
            raise ValueError(f"ticket_status must be one of {TICKET_STATUSES}, not {filters.ticket_status!r}")
        where.append(facts.c.ticket_status == filters.ticket_status)
    if filters.did_not_know is not None:
        where.append(facts.c.knowledge_misses > 0 if filters.did_not_know else
                     or_(facts.c.knowledge_misses.is_(None), facts.c.knowledge_misses == 0))  # fmt: skip
    for kind, name in (("tool", _text(filters.tool)), ("intent", _text(filters.intent))):
        if name is not None:
            where.append(_has_item(kind, name))
    return where


def conditions(filters: ConversationFilters, staff_roles: Collection[str]) -> list[Any]:
    """The WHERE clauses for `filters`, over threads outer-joined to users and to conversation_facts."""
    where: list[Any] = []
    if not filters.include_staff:
        where.append(not_staff(staff_roles))
    if filters.since is not None:
        where.append(threads.c.created_at >= parse_ts(filters.since))
    if filters.until is not None:
        where.append(threads.c.created_at < parse_ts(filters.until))
    if customer := _text(filters.customer):
        pattern = like(customer)
        where.append(
            or_(users.c.identifier.ilike(pattern, escape="\\"), users.c.display_name.ilike(pattern, escape="\\"))
        )
    where += _rating(filters.rating)
    if search := _text(filters.search):
        where.append(
            exists().where(
                steps.c.thread_id == threads.c.id,
                steps.c.type.in_(MESSAGE_TYPES),
                steps.c.output.ilike(like(search), escape="\\"),
            )
        )
    return where + _facts(filters)
