"""Facts for conversations the chat service never recorded (older than the facts record), rebuilt from the history.

`python -m agent.facts rebuild` runs it (agent/facts.py). By default only conversations without a facts row are
rebuilt, so running it twice changes nothing; `everything=True` rebuilds every conversation from its history.

What the history tells, and how:
- turns, last_customer_at, intents (each customer message tagged again), started_at (the thread's creation);
- last_answer_at: the latest assistant message (the service dates a reply by its first token);
- tools: the tool steps, a step marked as an error counting as a failure;
- errors: the error messages shown (a refusal of an over-long message is one too, unlike in the live record);
- knowledge misses: a customer message asking for information whose turn got a reply without a sources line,
  without a tool that worked (cards and hand-overs come from tools) and without an error;
- ticket: the conversation's latest ticket in the shop's store, with its status; the "handed_over" gap is the
  latest information question asked before that ticket was opened;
- last_rating and "rated_down" gaps: from the feedback, as the live path keeps them.
What it cannot tell, left empty: first_response_ms (when the message reached the service is not kept) and the cards
(a card is only a message: neither that it was one nor what became of it is stored), so the card counts stay 0.
A stopped reply looks answered. With `everything`, a row the live path wrote keeps its response time and cards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, not_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.chat.facts_log import Gap, GapKind, IntentTag, IntentTagger, ItemUse, Question, outcome_of
from agent.datalayer.db import parse_ts
from agent.datalayer.facts import (
    COUNTS, NAME_LENGTH, conversation_facts, fact_items, keep_only_gaps, rating_changed, settle_outcome,
)  # fmt: skip
from agent.datalayer.store_base import StoreBase
from agent.datalayer.store_rows import steps, threads
from agent.datalayer.workspace_filters import CUSTOMER_MESSAGE, MESSAGE_TYPES
from tools.store.sql import utcnow

log = logging.getLogger("agent.datalayer")
REPLY = "assistant_message"
TOOL = "tool"
SOURCES_MARK = "**Sources:**"  # the line every channel ends a cited reply with (agent.runner.events.Sources.line)
REBUILT_GAPS: tuple[GapKind, ...] = ("missed", "handed_over")  # "rated_down" follows the feedback


@dataclass(frozen=True)
class StoredTicket:
    """A conversation's hand-over ticket as the shop's store holds it."""

    id: str
    status: str
    created_at: datetime | None = None


TicketLookup = Callable[[str], Awaitable[StoredTicket | None]]  # conversation id -> its latest ticket


@dataclass(frozen=True)
class StoredStep:
    id: str
    type: str | None
    name: str | None
    output: str | None
    is_error: bool
    created_at: datetime


@dataclass(frozen=True)
class RebuiltFacts:
    values: dict[str, Any]  # the conversation_facts columns
    items: list[ItemUse]
    gaps: list[Gap]


def rebuilt_facts(started_at: datetime, owner: str | None, history: Sequence[StoredStep],
                  tags: dict[str, IntentTag | None], ticket: StoredTicket | None) -> RebuiltFacts:
    """The facts a conversation's stored steps (oldest first) tell; `tags` by customer step id."""
    asked = [Question(s.id, s.output, s.created_at) for s in history if s.type == CUSTOMER_MESSAGE and s.output]
    replies = [s for s in history if s.type == REPLY and not s.is_error]
    intents: dict[str, int] = {}
    for question in asked:
        if (tag := tags.get(question.step_id)) is not None:
            intents[tag.name] = intents.get(tag.name, 0) + 1
    tools: dict[str, list[int]] = {}
    for step in history:
        if step.type == TOOL and step.name:
            counts = tools.setdefault(step.name, [0, 0])
            counts[0] += 1
            counts[1] += bool(step.is_error)
    missed = [q for q in asked if _missed(q, tags.get(q.step_id), history)]
    gaps = [Gap("missed", q) for q in missed]
    if ticket is not None and (handed := _asked_before(asked, tags, ticket.created_at)) is not None:
        gaps.append(Gap("handed_over", handed))
    errors = sum(1 for s in history if s.type == REPLY and s.is_error)
    last_answer = max((s.created_at for s in replies), default=None)
    values = {
        "user_id": owner, "started_at": min([started_at, *(s.created_at for s in history)]),
        "last_customer_at": max((q.asked_at for q in asked), default=None), "last_answer_at": last_answer,
        "turns": len(asked), "errors": errors, "knowledge_misses": len(missed),
        "ticket_id": ticket.id if ticket else None, "ticket_status": ticket.status if ticket else None,
        "outcome": outcome_of(ticket.id if ticket else None, errors, last_answer),
    }  # fmt: skip
    items = [ItemUse("intent", name, uses) for name, uses in intents.items()]
    items += [ItemUse("tool", name, uses, failures) for name, (uses, failures) in tools.items()]
    return RebuiltFacts(values, items, gaps)


def _missed(question: Question, tag: IntentTag | None, history: Sequence[StoredStep]) -> bool:
    if tag is None or not tag.asks_knowledge:
        return False
    turn = _turn_of(question, history)
    replies = [s for s in turn if s.type == REPLY]
    if not replies or any(s.is_error for s in replies):
        return False  # never answered, or it failed: not a question the knowledge base missed
    cited = any(SOURCES_MARK in (s.output or "") for s in replies)
    return not cited and not any(s.type == TOOL and not s.is_error for s in turn)


def _turn_of(question: Question, history: Sequence[StoredStep]) -> list[StoredStep]:
    """The steps after the customer's message, up to their next one."""
    start = next(i for i, s in enumerate(history) if s.id == question.step_id) + 1
    end = next((i for i in range(start, len(history)) if history[i].type == CUSTOMER_MESSAGE), len(history))
    return list(history[start:end])


def _asked_before(asked: Sequence[Question], tags: dict[str, IntentTag | None],
                  moment: datetime | None) -> Question | None:
    for question in reversed(asked):
        tag = tags.get(question.step_id)
        if tag is not None and tag.asks_knowledge and (moment is None or question.asked_at <= moment):
            return question
    return None


class FactsRebuild(StoreBase):
    async def rebuild_facts(self, tagger: IntentTagger | None, tickets: TicketLookup | None = None, *,
                            since: datetime | None = None, everything: bool = False) -> int:
        """Rebuild the facts of conversations without any (all of them with `everything`), started at or after
        `since`; returns how many were written."""
        written = 0
        for thread_id in await self.transaction("facts_to_rebuild", None, _to_rebuild(since, everything)):
            started, owner, history = await self.transaction("read_history", thread_id, _read(thread_id))
            tags = {s.id: await _tag(tagger, s.output) for s in history if s.type == CUSTOMER_MESSAGE and s.output}
            ticket = await tickets(thread_id) if tickets is not None else None
            facts = rebuilt_facts(started, owner, history, tags, ticket)
            written += await self.transaction("rebuild_facts", thread_id, _write(thread_id, facts, everything))
        return written


async def _tag(tagger: IntentTagger | None, text: str | None) -> IntentTag | None:
    if tagger is None or not text:
        return None
    try:
        return await asyncio.to_thread(tagger.tag, text)
    except Exception:
        log.exception("intent tagging failed")
        return None


def _to_rebuild(since: datetime | None, everything: bool) -> Callable[[AsyncConnection], Awaitable[list[str]]]:
    async def run(conn: AsyncConnection) -> list[str]:
        talked = exists().where(steps.c.thread_id == threads.c.id, steps.c.type.in_(MESSAGE_TYPES))
        query = select(threads.c.id).where(talked)
        if not everything:
            query = query.where(not_(exists().where(conversation_facts.c.thread_id == threads.c.id)))
        if since is not None:
            query = query.where(threads.c.created_at >= parse_ts(since))
        return list((await conn.execute(query.order_by(threads.c.created_at, threads.c.id))).scalars())

    return run


def _read(thread_id: str) -> Callable[[AsyncConnection], Awaitable[tuple[datetime, str | None, list[StoredStep]]]]:
    async def run(conn: AsyncConnection) -> tuple[datetime, str | None, list[StoredStep]]:
        thread = (await conn.execute(
            select(threads.c.created_at, threads.c.user_id).where(threads.c.id == thread_id))).one()
        rows = await conn.execute(
            select(steps.c.id, steps.c.type, steps.c.name, steps.c.output, steps.c.is_error, steps.c.created_at)
            .where(steps.c.thread_id == thread_id, steps.c.type.in_((*MESSAGE_TYPES, TOOL)))
            .order_by(steps.c.created_at, steps.c.id)
        )  # fmt: skip
        history = [StoredStep(r.id, r.type, r.name, r.output, bool(r.is_error), r.created_at) for r in rows]
        return thread.created_at, thread.user_id, history

    return run


def _write(thread_id: str, facts: RebuiltFacts, everything: bool) -> Callable[[AsyncConnection], Awaitable[int]]:
    async def run(conn: AsyncConnection) -> int:
        c = conversation_facts.c
        known = (await conn.execute(select(c.thread_id).where(c.thread_id == thread_id))).first() is not None
        if known and not everything:
            return 0  # the chat service recorded it meanwhile: its record wins
        values = facts.values | {"updated_at": utcnow()}
        if known:
            await conn.execute(update(conversation_facts).where(c.thread_id == thread_id).values(values))
        else:
            fresh = dict.fromkeys(COUNTS, 0) | values | {"thread_id": thread_id}  # the live-only columns stay empty
            await conn.execute(conversation_facts.insert().values(fresh))
        await conn.execute(delete(fact_items).where(fact_items.c.thread_id == thread_id))
        if facts.items:
            await conn.execute(fact_items.insert().values([
                {"thread_id": thread_id, "kind": i.kind, "name": i.name[:NAME_LENGTH], "uses": i.uses,
                 "failures": i.failures} for i in facts.items]))  # fmt: skip
        for kind in REBUILT_GAPS:
            await keep_only_gaps(conn, thread_id, kind, [g.question for g in facts.gaps if g.kind == kind])
        await rating_changed(conn, thread_id)
        await settle_outcome(conn, thread_id)
        return 1

    return run
