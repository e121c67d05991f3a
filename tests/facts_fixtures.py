"""Fixtures of the facts tests: `store`, a migrated ChatStore on SQLite and on PostgreSQL (the `database` fixture of
tests/datalayer_fixtures.py: PostgreSQL in the session's shared schema), `empty_store` (a database of its own, for
tests that look at every conversation), and a reader of a conversation's stored facts.

A test module imports `store` with `database`, `no_database_env` (tests.datalayer_fixtures) and `pg_schema`
(tests.postgres).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from agent.datalayer import migrate
from agent.datalayer.facts import content_gaps, conversation_facts, fact_items
from agent.datalayer.storage import LocalStorage
from agent.datalayer.store import ChatStore
from tests.postgres import PG_URL, private_schema, require_postgres
from tools.store.sql import utcnow

# The facts columns a test compares as a whole, at their value for a conversation with nothing in it.
BASE: dict[str, Any] = {
    "turns": 0, "errors": 0, "knowledge_misses": 0, "cards_shown": 0, "cards_confirmed": 0, "cards_declined": 0,
    "cards_expired": 0, "ticket_id": None, "ticket_status": None, "last_rating": None, "outcome": "unanswered",
    "user_id": None,
}  # fmt: skip
TIMES = ("started_at", "last_customer_at", "last_answer_at", "first_response_ms")


@pytest.fixture
async def store(database, tmp_path):
    url, schema = database
    await migrate(url, schema)
    chat_store = ChatStore(url, LocalStorage(tmp_path / "files"), schema=schema, retry_wait_s=0)
    yield chat_store
    await chat_store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        await migrate(url)
        chat_store = ChatStore(url, LocalStorage(tmp_path / "files"), retry_wait_s=0)
        yield chat_store
        await chat_store.close()
        return
    require_postgres()
    with private_schema() as schema:
        await migrate(PG_URL, schema)
        chat_store = ChatStore(PG_URL, LocalStorage(tmp_path / "files"), schema=schema, retry_wait_s=0)
        try:
            yield chat_store
        finally:
            await chat_store.close()  # before the schema is dropped


async def facts_of(store: ChatStore, thread_id: str) -> dict[str, Any] | None:
    """The conversation's facts: "counts" (the BASE columns), the TIMES, "items" {(kind, name): (uses, failures)},
    "gaps" {(kind, step_id, question)} and "gap_times" {step_id: asked_at}; None without a facts row."""
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(conversation_facts).where(conversation_facts.c.thread_id == thread_id))).first()
        if row is None:
            return None
        items = await conn.execute(select(fact_items).where(fact_items.c.thread_id == thread_id))
        gaps = (await conn.execute(select(content_gaps).where(content_gaps.c.thread_id == thread_id))).all()
    facts = row._mapping
    return {
        "counts": {key: facts[key] for key in BASE}, **{key: facts[key] for key in TIMES},
        "items": {(i.kind, i.name): (i.uses, i.failures) for i in items},
        "gaps": {(g.kind, g.step_id, g.question) for g in gaps}, "gap_times": {g.step_id: g.asked_at for g in gaps},
    }  # fmt: skip


@dataclass
class Window:
    """When something ran, in the stored times' terms (naive UTC)."""

    start: datetime
    end: datetime = datetime.max


@contextmanager
def window() -> Iterator[Window]:
    span = Window(utcnow())
    yield span
    span.end = utcnow()
