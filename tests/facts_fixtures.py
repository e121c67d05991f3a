"""Fixtures of the facts tests: `store`, a migrated ChatStore on SQLite and on PostgreSQL (the `database` fixture of
tests/datalayer_fixtures.py: PostgreSQL in the session's shared schema; tests that look at every conversation use
`chat_store` from there, a database of its own), a reader of a conversation's stored facts, and a chat service on a
scripted model with small tools (`chat`), a knowledge base of one passage and a tagger that knows a few messages.

A test module imports `store` with `database`, `no_database_env` (tests.datalayer_fixtures) and `pg_schema`
(tests.postgres).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import uuid

import pytest
from sqlalchemy import select

from agent.chat.facts_log import IntentTag
from agent.chat.service import ChatService, Customer
from agent.datalayer import migrate
from agent.datalayer.facts import content_gaps, conversation_facts, fact_items
from agent.datalayer.history import StoreHistory
from agent.datalayer.storage import LocalStorage
from agent.datalayer.store import ChatStore
from agent.runner.events import ConfirmationRequested
from agent.runner.memory import ExtractiveSummarizer
from agent.runner.orchestrator import SupportAgent
from agent.sessions.conversations import ConversationRepository
from agent.sessions.memory import MemoryRateLimiter, MemorySessionStore
from agent.settings import Settings, StoreSettings, ToolSettings
from knowledge.types import Passage
from tests.postgres import PG_URL, private_schema, require_postgres
from tools.base import ToolContext, ToolResult, tool
from tools.errors import ToolFailure
from tools.registry import ToolRegistry
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


async def facts_of(store: ChatStore, thread_id: str) -> dict[str, Any] | None:
    """The conversation's facts: "counts" (the BASE columns), the TIMES, "items" {(kind, name): (uses, failures)},
    "gaps" {(kind, step_id, question)} and "gap_times" {step_id: asked_at}; None without a facts row."""
    async with store.engine.connect() as conn:
        query = select(conversation_facts).where(conversation_facts.c.thread_id == thread_id)
        row = (await conn.execute(query)).first()
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


# --- a chat service to record facts from

RETURNS = "How long do I have to return an item?"
CARS = "Do you sell cars?"
WEATHER = "What will the weather be like in Paris tomorrow?"
HUMAN = "I want to talk to a person"
CANCEL = "cancel #W0000001"
TICKET = "T-FACTS001"
POLICY = IntentTag("policy_question", True)
TAGS = {RETURNS: POLICY, CARS: IntentTag("out_of_scope", True), HUMAN: IntentTag("human", False),
        CANCEL: IntentTag("cancel_order", False), "hi": IntentTag("greeting", False)}  # fmt: skip


class Tagger:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def tag(self, text: str) -> IntentTag | None:
        self.seen.append(text)
        return TAGS.get(text)


class Shelf:
    """A knowledge base of one passage, found for every question."""

    passage = Passage("p1", "Items can be returned within 30 days.", "returns.md", "Returns", score=0.9)

    async def asearch(self, query, k=None, where=None):
        return [self.passage]

    def relevant(self, passages):
        return passages


@tool
def lookup_order(order_id: str) -> ToolResult:
    """Look an order up."""
    if order_id != "#W0000001":
        raise ToolFailure("not_found", f"No order {order_id}.")
    return ToolResult.success({"status": "delivered"})


@tool(writes=True, acts_on="order_id")
def cancel_order(ctx: ToolContext, order_id: str) -> ToolResult:
    """Cancel an order."""
    if ctx.confirmation is None:
        return ToolResult.needs_confirmation([f"Cancel order {order_id}."])
    if order_id == "#W0000009":
        raise ToolFailure("forbidden", "That order has shipped since.")
    return ToolResult.success({"order_id": order_id}, f"Order {order_id} is cancelled.")


@tool(hands_over=True)
def hand_over(summary: str) -> ToolResult:
    """Hand over to a person."""
    return ToolResult(ok=True, data={"ticket_id": TICKET}, message=f"A colleague will follow up ({TICKET}).",
                      ticket=TICKET)


def chat(store, model, *, tagger=None, ttl_s: float = 900.0, facts=None) -> ChatService:
    settings = Settings(store=StoreSettings(confirmation_ttl_s=ttl_s))
    registry = ToolRegistry([lookup_order, cancel_order, hand_over], ToolSettings(retry_backoff_s=0))
    agent = SupportAgent(model, registry, Shelf(), settings)
    sessions = ConversationRepository(MemorySessionStore(60, 1), ExtractiveSummarizer(4), max_messages=20,
                                      max_tokens=2000)
    return ChatService(agent, sessions, MemoryRateLimiter(600, 100), None, StoreHistory(store),
                       facts=store if facts is None else facts, tagger=tagger or Tagger())


def visitor() -> Customer:
    return Customer(f"conv-{uuid.uuid4().hex}", None, "Visitor")


async def send(service, who, text, **ids) -> list:
    return [event async for event in service.send(who, text, **ids)]


async def click(service, who, token, approve=True) -> list:
    return [event async for event in service.confirm(who, token, approve)]


def card_of(events) -> ConfirmationRequested:
    [card] = [e for e in events if isinstance(e, ConfirmationRequested)]
    return card
