"""The workspace benchmark's synthetic data (bench/workspace_data.py, bench/workspace_load.py), on SQLite: every
record agrees with the steps it summarises, tickets point at conversations that exist, and the mix has what the
benchmark's filters look for (staff chats, anonymous chats, ratings both ways, every ticket status, gaps).
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
from sqlalchemy import select

from agent.datalayer import models
from bench.workspace_data import LEADS
from bench.workspace_load import generate, thread_count
from knowledge.testing import FakeEmbedder
from tests.datalayer_fixtures import no_database_env  # noqa: F401 (autouse fixture)
from tools.store import models as store_models
from tools.store.sql import make_engine

CONVERSATIONS = 300  # enough for every kind of row at these rates, still well under a second


async def _tables(url: str) -> dict[str, list[dict]]:
    tables = {"users": models.User, "threads": models.Thread, "steps": models.Step, "feedbacks": models.Feedback,
              "facts": models.ConversationFacts, "items": models.FactItem, "gaps": models.ContentGap,
              "tickets": store_models.Ticket, "events": store_models.TicketEvent}  # fmt: skip
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return {name: [dict(r._mapping) for r in (await conn.execute(select(model.__table__))).all()]
                    for name, model in tables.items()}  # fmt: skip
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
async def data(tmp_path, embedder) -> dict[str, list[dict]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}"
    await generate(url, "", CONVERSATIONS, embedder.embed, batch=128, progress=lambda _: None)
    assert await thread_count(url, "") == CONVERSATIONS
    return await _tables(url)


def _by_thread(rows: list[dict]) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for row in rows:
        grouped[row["thread_id"]].append(row)
    return grouped


async def test_facts_agree_with_the_steps(data):
    steps = _by_thread(data["steps"])
    assert len(data["facts"]) == len(data["threads"]) == CONVERSATIONS
    assert 8 <= len(data["steps"]) / CONVERSATIONS <= 14  # about ten steps a conversation
    for fact in data["facts"]:
        own = steps[fact["thread_id"]]
        customer = [s for s in own if s["type"] == "user_message"]
        answers = [s for s in own if s["type"] == "assistant_message"]
        assert fact["turns"] == len(customer) >= 1
        assert fact["last_customer_at"] == max(s["created_at"] for s in customer)
        assert fact["last_answer_at"] == max(s["created_at"] for s in answers)
        assert fact["started_at"] <= min(s["created_at"] for s in own)
        assert fact["first_response_ms"] > 0
        assert (fact["outcome"] == "escalated") == (fact["ticket_id"] is not None)
        assert fact["cards_shown"] == fact["cards_confirmed"] + fact["cards_declined"] + fact["cards_expired"]


async def test_intents_tools_and_ratings_agree_with_the_steps(data):
    steps, items, ratings = _by_thread(data["steps"]), _by_thread(data["items"]), _by_thread(data["feedbacks"])
    step_thread = {s["id"]: s["thread_id"] for s in data["steps"]}
    for fact in data["facts"]:
        thread_id = fact["thread_id"]
        tools = Counter(s["name"] for s in steps[thread_id] if s["type"] == "tool")
        failed = Counter(s["name"] for s in steps[thread_id] if s["type"] == "tool" and s["is_error"])
        recorded = {i["name"]: i for i in items[thread_id] if i["kind"] == "tool"}
        assert {name: i["uses"] for name, i in recorded.items()} == dict(tools)
        assert {name: i["failures"] for name, i in recorded.items() if i["failures"]} == dict(failed)
        intents = sum(i["uses"] for i in items[thread_id] if i["kind"] == "intent")
        assert intents == fact["turns"]  # one intent recognised per customer message
        given = sorted(ratings[thread_id], key=lambda r: r["created_at"])
        assert fact["last_rating"] == (given[-1]["value"] if given else None)
        assert all(step_thread[r["for_id"]] == thread_id for r in given)


async def test_tickets_gaps_and_owners(data, embedder):
    threads = {t["id"]: t for t in data["threads"]}
    facts = {f["thread_id"]: f for f in data["facts"]}
    steps = {s["id"]: s for s in data["steps"]}
    for ticket in data["tickets"]:
        assert ticket["conversation_id"] in threads
        assert facts[ticket["conversation_id"]]["ticket_id"] == ticket["id"]
        assert facts[ticket["conversation_id"]]["ticket_status"] == ticket["status"]
        assert ticket["updated_at"] >= ticket["created_at"]
    assert {e["ticket_id"] for e in data["events"]} == {t["id"] for t in data["tickets"]}
    assert {t["status"] for t in data["tickets"]} == {"open", "pending", "solved"}
    for gap in data["gaps"]:
        asked = steps[gap["step_id"]]
        expected = (gap["thread_id"], "user_message", gap["question"])
        assert (asked["thread_id"], asked["type"], asked["output"]) == expected
        vector = np.frombuffer(gap["embedding"], dtype=np.float32)
        assert vector.shape == (embedder.dimension,)
    assert {g["kind"] for g in data["gaps"]} == set(models.GAP_KINDS)
    leads = {u["id"] for u in data["users"] if u["identifier"] in LEADS}
    assert {u["role"] for u in data["users"] if u["id"] in leads} == {"lead"}
    owners = [t["user_id"] for t in data["threads"]]
    assert any(o in leads for o in owners), "staff chats exist (the list must leave them out)"
    assert None in owners, "anonymous chats exist"
    assert {0, 1} <= {f["last_rating"] for f in data["facts"]}


async def test_the_same_seed_writes_the_same_data(data, tmp_path, embedder):
    url = f"sqlite+aiosqlite:///{tmp_path / 'again.db'}"
    await generate(url, "", CONVERSATIONS, embedder.embed, batch=100, progress=lambda _: None)
    again = await _tables(url)
    for name in ("threads", "steps", "facts", "tickets"):
        assert again[name] == data[name], name
