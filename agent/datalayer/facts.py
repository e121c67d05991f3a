"""ChatStore's conversation facts: the chat service's `FactsLog` (agent/chat/facts_log.py), ticket and rating changes.

One retried transaction per call. The facts row is created by a conversation's first action (its thread row too,
if Chainlit has not written it yet); counts are added in SQL (`turns = turns + 1`), so two instances recording
at once both count. The outcome is recomputed from the row's totals in the same transaction.

Ratings arrive through Chainlit's feedback (store_feedback.py), which calls `rating_changed` in its own
transaction: `last_rating` is the latest rating given in the conversation (the rule of the workspace's list), and
each 👎 keeps a "rated_down" content gap for the customer message just before the rated reply, gone again when the
rating turns 👍 or is deleted. A conversation without a facts row is left alone.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.chat.facts_log import TICKET_OPENED, ActionFacts, Gap, GapKind, ItemUse, Question, outcome_of
from agent.datalayer import models
from agent.datalayer.db import parse_ts
from agent.datalayer.store_base import StoreBase
from agent.datalayer.store_rows import feedbacks, steps, threads, users
from agent.datalayer.workspace_filters import CUSTOMER_MESSAGE, last_rating
from tools.store.sql import dialect_insert, insert, utcnow

conversation_facts = models.ConversationFacts.__table__
fact_items = models.FactItem.__table__
content_gaps = models.ContentGap.__table__
COUNTS = ("turns", "errors", "knowledge_misses", "cards_shown", "cards_confirmed", "cards_declined", "cards_expired")
THUMBS_DOWN = 0
NAME_LENGTH = 64  # conversation_fact_items.name


class FactsStore(StoreBase):
    async def record_action(self, facts: ActionFacts) -> None:
        """Add one action's facts to its conversation's record (see agent/chat/facts.py for what they mean)."""
        thread_id = facts.conversation_id
        known_owner = self._facts_owners.get(thread_id)
        # A row remembered without an owner is looked up again once the action names a customer.
        known = thread_id in self._facts_owners and (known_owner is not None or facts.user is None)

        async def run(conn: AsyncConnection) -> str | None:
            # A conversation whose row this process has seen needs only the update: the thread, owner and row
            # lookups were four of a turn's statements. A row gone since (the thread was deleted) updates nothing,
            # and is made again as on a first action.
            owner = known_owner
            totals = await _add_counts(conn, facts, owner) if known else None
            if totals is None:
                await self._ensure_thread(conn, thread_id)  # Chainlit may write the thread after the first turn
                owner = await _owner(conn, thread_id, facts.user)
                await _ensure_facts(conn, thread_id, owner, parse_ts(facts.at))
                totals = await _add_counts(conn, facts, owner)
            await _add_items(conn, thread_id, facts.items)
            await add_gaps(conn, thread_id, facts.gaps)
            if totals is not None and (outcome := outcome_of(totals.ticket_id, totals.errors,
                                                             totals.last_answer_at)) != totals.outcome:
                await conn.execute(update(conversation_facts).where(conversation_facts.c.thread_id == thread_id)
                                   .values(outcome=outcome))
            return owner

        owner = await self.transaction("record_facts", thread_id, run)
        # A signed-in customer's row without its owner yet keeps looking (Chainlit sets the thread's user later);
        # an anonymous one has none to find.
        if owner is not None or facts.user is None:
            self._facts_owners[thread_id] = owner

    async def customer_questions(self, conversation_id: str, limit: int) -> list[Question]:
        """The customer's latest messages, newest first (the hand-over gap looks back through them)."""

        async def run(conn: AsyncConnection) -> list[Question]:
            rows = await conn.execute(
                select(steps.c.id, steps.c.output, steps.c.created_at)
                .where(steps.c.thread_id == conversation_id, steps.c.type == CUSTOMER_MESSAGE)
                .order_by(steps.c.created_at.desc(), steps.c.id.desc())
                .limit(limit)
            )
            return [Question(r.id, r.output, r.created_at) for r in rows if r.output]

        return await self.transaction("customer_questions", conversation_id, run)

    async def ticket_changed(self, thread_id: str, ticket_id: str, status: str) -> None:
        """A lead moved the conversation's ticket to `status`. A ticket other than the one recorded is an older
        hand-over: the conversation has moved on, nothing changes. No facts row: nothing to change."""

        async def run(conn: AsyncConnection) -> None:
            c = conversation_facts.c
            await conn.execute(
                update(conversation_facts)
                .where(c.thread_id == thread_id, (c.ticket_id.is_(None)) | (c.ticket_id == ticket_id))
                .values(ticket_id=ticket_id, ticket_status=status, updated_at=utcnow())
            )
            await settle_outcome(conn, thread_id)

        await self.transaction("ticket_changed", thread_id, run)


async def _owner(conn: AsyncConnection, thread_id: str, identifier: str | None) -> str | None:
    """The conversation's owner (users.id): the thread's, or the signed-in identifier's before Chainlit set it."""
    owner = (await conn.execute(select(threads.c.user_id).where(threads.c.id == thread_id))).scalar()
    if owner is None and identifier:
        owner = (await conn.execute(select(users.c.id).where(users.c.identifier == identifier))).scalar()
    return owner


async def _ensure_facts(conn: AsyncConnection, thread_id: str, owner: str | None, at: Any) -> None:
    created = (await conn.execute(select(threads.c.created_at).where(threads.c.id == thread_id))).scalar()
    started = min(created, at) if created is not None and at is not None else created or at or utcnow()
    values = {"thread_id": thread_id, "user_id": owner, "started_at": started, "outcome": "unanswered",
              "updated_at": utcnow(), **dict.fromkeys(COUNTS, 0)}  # fmt: skip
    await conn.execute(insert(conn, conversation_facts).values(values).on_conflict_do_nothing(
        index_elements=["thread_id"]))


async def _add_counts(conn: AsyncConnection, facts: ActionFacts, owner: str | None) -> Any:
    """Add the action's counts to the conversation's row; the totals the outcome is made of, and the outcome
    recorded so far (None: it has no row)."""
    changes, params = _increments(facts, owner)
    return (await conn.execute(_counts_update(changes), params)).first()


def _increments(facts: ActionFacts, owner: str | None) -> tuple[tuple[str, ...], dict[str, Any]]:
    """What the action changes (the statement's shape) and the values, as the statement's parameters."""
    params: dict[str, Any] = {"p_thread": facts.conversation_id, "p_now": utcnow()}
    changes = [name for name in COUNTS if getattr(facts, name)]
    params |= {f"p_{name}": getattr(facts, name) for name in changes}
    if owner is not None:
        changes.append("user_id")
        params["p_user_id"] = owner
    if facts.last_customer_at is not None:
        changes.append("last_customer_at")
        params["p_last_customer_at"] = parse_ts(facts.last_customer_at)
    if facts.answered_at is not None:
        changes.append("last_answer_at")
        params["p_last_answer_at"] = parse_ts(facts.answered_at)
        if facts.first_response_ms is not None:
            changes.append("first_response_ms")
            params["p_first_response_ms"] = facts.first_response_ms
    if facts.ticket_id:
        changes += ["ticket_id", "ticket_status"]
        params |= {"p_ticket_id": facts.ticket_id, "p_ticket_status": TICKET_OPENED}
    return tuple(changes), params


@functools.cache
def _counts_update(changes: tuple[str, ...]) -> Any:
    """The facts row's update for one set of changes, built once; the values go in as parameters (see
    store_base.owned_upsert). Counts are added in SQL, so two instances recording at once both count."""
    c = conversation_facts.c

    def value(name: str) -> Any:
        return bindparam(f"p_{name}", type_=c[name].type)

    values: dict[str, Any] = {"updated_at": bindparam("p_now", type_=c.updated_at.type)}
    for name in changes:
        if name in COUNTS:
            values[name] = c[name] + value(name)
        elif name == "user_id":
            values[name] = func.coalesce(c.user_id, value(name))
        elif name == "first_response_ms":  # only the first answer's: the right side reads the old row
            first = and_(c.last_answer_at.is_(None), c.first_response_ms.is_(None))
            values[name] = case((first, value(name)), else_=c.first_response_ms)
        else:
            values[name] = value(name)
    return (update(conversation_facts).where(c.thread_id == bindparam("p_thread")).values(values)
            .returning(c.ticket_id, c.errors, c.last_answer_at, c.outcome))


async def _add_items(conn: AsyncConnection, thread_id: str, items: Iterable[ItemUse]) -> None:
    rows = [{"thread_id": thread_id, "kind": i.kind, "name": i.name[:NAME_LENGTH], "uses": i.uses,
             "failures": i.failures} for i in items]  # fmt: skip
    if rows:
        await conn.execute(_items_upsert(conn.dialect.name), rows)


async def add_gaps(conn: AsyncConnection, thread_id: str, gaps: Iterable[Gap]) -> None:
    rows = [{"thread_id": thread_id, "step_id": g.question.step_id, "kind": g.kind, "question": g.question.text,
             "asked_at": parse_ts(g.question.asked_at)} for g in gaps]  # fmt: skip
    if rows:
        await conn.execute(_gaps_insert(conn.dialect.name), rows)


# Built once per dialect, the rows go in as parameters (executemany): a statement's `excluded` and rows inlined
# by `.values(rows)` were rebuilt and compiled every turn (see store_base.owned_upsert).
@functools.cache
def _items_upsert(dialect: str) -> Any:
    stmt = dialect_insert(dialect, fact_items)
    added = {"uses": fact_items.c.uses + stmt.excluded.uses, "failures": fact_items.c.failures + stmt.excluded.failures}
    return stmt.on_conflict_do_update(index_elements=["thread_id", "kind", "name"], set_=added)


@functools.cache
def _gaps_insert(dialect: str) -> Any:
    return dialect_insert(dialect, content_gaps).on_conflict_do_nothing(index_elements=["thread_id", "step_id", "kind"])


async def keep_only_gaps(conn: AsyncConnection, thread_id: str, kind: GapKind, wanted: Iterable[Question]) -> None:
    """Make the conversation's gaps of `kind` exactly `wanted`; the ones kept keep their embedding."""
    by_step = {q.step_id: q for q in wanted}
    stale = content_gaps.c.step_id.not_in(list(by_step)) if by_step else true()
    await conn.execute(delete(content_gaps).where(
        content_gaps.c.thread_id == thread_id, content_gaps.c.kind == kind, stale))
    await add_gaps(conn, thread_id, [Gap(kind, q) for q in by_step.values()])


async def settle_outcome(conn: AsyncConnection, thread_id: str) -> None:
    c = conversation_facts.c
    row = (await conn.execute(
        select(c.ticket_id, c.errors, c.last_answer_at).where(c.thread_id == thread_id))).first()
    if row is not None:
        outcome = outcome_of(row.ticket_id, row.errors, row.last_answer_at)
        await conn.execute(update(conversation_facts).where(c.thread_id == thread_id).values(outcome=outcome))


async def rating_changed(conn: AsyncConnection, thread_id: str | None) -> None:
    """A rating in this conversation was given, changed or deleted: its last rating and "rated_down" gaps follow."""
    c = conversation_facts.c
    if thread_id is None or (await conn.execute(select(c.thread_id).where(c.thread_id == thread_id))).first() is None:
        return
    rating = (await conn.execute(select(last_rating()).select_from(threads).where(threads.c.id == thread_id))).scalar()
    await conn.execute(update(conversation_facts).where(c.thread_id == thread_id).values(last_rating=rating))
    await keep_only_gaps(conn, thread_id, "rated_down", await _questions_rated_down(conn, thread_id))


async def _questions_rated_down(conn: AsyncConnection, thread_id: str) -> list[Question]:
    """For each 👎-rated step, the customer message just before it."""
    rated = await conn.execute(
        select(steps.c.created_at)
        .select_from(feedbacks.join(steps, steps.c.id == feedbacks.c.for_id))
        .where(steps.c.thread_id == thread_id, feedbacks.c.value == THUMBS_DOWN)
    )
    found: dict[str, Question] = {}
    for (moment,) in rated.all():
        row = (await conn.execute(
            select(steps.c.id, steps.c.output, steps.c.created_at)
            .where(steps.c.thread_id == thread_id, steps.c.type == CUSTOMER_MESSAGE, steps.c.created_at <= moment)
            .order_by(steps.c.created_at.desc(), steps.c.id.desc()).limit(1)
        )).first()  # fmt: skip
        if row is not None and row.output:
            found[row.id] = Question(row.id, row.output, row.created_at)
    return list(found.values())
