"""Conversation facts written straight into the tables (SQLAlchemy Core), for the workspace's tests.

The workspace only reads conversation_facts and conversation_fact_items; the chat service keeps them. These
helpers let a test state the facts it needs without running a chat, on any engine (SQLite or PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.datalayer import models
from agent.datalayer.store import ChatStore
from agent.datalayer.store_rows import threads
from tools.store.sql import utcnow

facts, fact_items = models.ConversationFacts.__table__, models.FactItem.__table__

COUNTERS = ("turns", "errors", "knowledge_misses", "cards_shown", "cards_confirmed", "cards_declined", "cards_expired")


async def add_facts(
    engine: AsyncEngine,
    thread_id: str,
    *,
    started_at: datetime | None = None,
    tools: Iterable[str] = (),
    intents: Iterable[str] = (),
    **values: Any,
) -> None:
    """A conversation_facts row for `thread_id` (counters 0 and outcome "answered" unless given), with one
    conversation_fact_items row per tool and per intent named."""
    now = utcnow()
    row: dict[str, Any] = {name: 0 for name in COUNTERS}
    row |= {"thread_id": thread_id, "started_at": started_at or now, "outcome": "answered", "updated_at": now}
    row |= values
    items = [("tool", name) for name in tools] + [("intent", name) for name in intents]
    async with engine.begin() as conn:
        await conn.execute(insert(facts).values(row))
        for kind, name in items:
            await conn.execute(insert(fact_items).values(thread_id=thread_id, kind=kind, name=name, uses=1, failures=0))


async def set_started(engine: AsyncEngine, thread_id: str, started: datetime) -> None:
    """Move a conversation's start, so the list's order is certain."""
    async with engine.begin() as conn:
        await conn.execute(update(threads).where(threads.c.id == thread_id).values(created_at=started))


async def rate_last_step(store: ChatStore, thread_id: str, value: int) -> None:
    """The customer's rating (1 👍, 0 👎) on the conversation's last step."""
    thread = await store.get_thread(thread_id)
    assert thread and thread["steps"], f"no steps in {thread_id}"
    await store.save_feedback(for_id=thread["steps"][-1]["id"], value=value, comment=None, feedback_id=None,
                              thread_id=thread_id)
