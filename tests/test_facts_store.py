"""The facts' write side in the chat store (agent/datalayer/facts.py, facts_rebuild.py), the rebuild command
(agent/facts.py) and the intent tagger (agent/chat/tagging.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, timedelta
from unittest.mock import MagicMock

import pytest
from sqlalchemy import select, update

from agent import facts as facts_cli
from agent.chat.facts_log import ActionFacts, Gap, IntentTag, ItemUse, Question
from agent.chat.tagging import RouterTagger
from agent.datalayer.facts import content_gaps, conversation_facts, fact_items
from agent.datalayer.facts_rebuild import StoredTicket
from agent.datalayer.store_rows import threads
from agent.factory import build_tagger
from agent.offline.engine import DialogueEngine
from agent.offline.router import Routing
from agent.settings import Settings
from tests.datalayer_fixtures import chat_store, database, no_database_env, sql_seen  # noqa: F401 (fixtures)
from tests.facts_fixtures import BASE, facts_of, store  # noqa: F401 (fixtures)
from tests.postgres import pg_schema  # noqa: F401 (fixture)
from tools.base import ToolContext
from tools.escalation import escalation_tools
from tools.store.db import StoreDatabase
from tools.store.migrate import migrate_store
from tools.store.sql import utcnow

T0 = datetime(2025, 6, 1, 9, 0, 0)
RETURNS = "How long do I have to return an item?"
CARS = "Do you sell cars?"
HUMAN = "I want to talk to a person"
TAGS = {RETURNS: IntentTag("policy_question", True), CARS: IntentTag("out_of_scope", True),
        HUMAN: IntentTag("human", False)}  # fmt: skip


class Tagger:
    def tag(self, text: str) -> IntentTag | None:
        return TAGS.get(text)


def new_id(prefix: str = "conv") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


async def test_the_first_action_creates_the_thread_and_the_owner_is_found_by_identifier(store):
    user = await store.ensure_user(f"{new_id('u')}@example.com", "Sam", None)
    thread_id = new_id()
    question = Question(new_id("m"), RETURNS, T0)
    await store.record_action(ActionFacts(
        thread_id, user["identifier"], T0, turns=1, last_customer_at=T0, answered_at=T0 + timedelta(seconds=2),
        first_response_ms=1500, knowledge_misses=1, items=(ItemUse("intent", "policy_question"),),
        gaps=(Gap("missed", question),),
    ))  # fmt: skip
    facts = await facts_of(store, thread_id)
    assert facts["counts"] == BASE | {"turns": 1, "knowledge_misses": 1, "outcome": "answered", "user_id": user["id"]}
    assert (facts["started_at"], facts["last_answer_at"], facts["first_response_ms"]) == (
        T0, T0 + timedelta(seconds=2), 1500)
    assert facts["gaps"] == {("missed", question.step_id, RETURNS)} and facts["gap_times"] == {question.step_id: T0}
    assert await store.get_thread(thread_id) is not None, "the thread row exists for Chainlit to fill in"

    later = T0 + timedelta(minutes=1)
    await store.record_action(ActionFacts(thread_id, None, later, answered_at=later, first_response_ms=10,
                                          gaps=(Gap("missed", question),)))  # fmt: skip
    facts = await facts_of(store, thread_id)
    assert (facts["last_answer_at"], facts["first_response_ms"]) == (later, 1500), "only the first answer's time"
    assert len(facts["gaps"]) == 1 and facts["counts"]["user_id"] == user["id"]


async def test_concurrent_actions_all_count(store):
    thread_id = new_id()
    action = ActionFacts(thread_id, None, T0, turns=1, errors=1, cards_shown=1,
                         items=(ItemUse("tool", "lookup_order", 2, 1), ItemUse("intent", "greeting")))
    await asyncio.gather(*(store.record_action(action) for _ in range(6)))
    facts = await facts_of(store, thread_id)
    assert facts["counts"] == BASE | {"turns": 6, "errors": 6, "cards_shown": 6, "outcome": "error"}
    assert facts["items"] == {("tool", "lookup_order"): (12, 6), ("intent", "greeting"): (6, 0)}


async def test_outcome_follows_the_totals(store):
    thread_id = new_id()
    await store.record_action(ActionFacts(thread_id, None, T0, turns=1))
    assert (await facts_of(store, thread_id))["counts"]["outcome"] == "unanswered"
    await store.record_action(ActionFacts(thread_id, None, T0, answered_at=T0))
    assert (await facts_of(store, thread_id))["counts"]["outcome"] == "answered"
    await store.record_action(ActionFacts(thread_id, None, T0, errors=1))
    assert (await facts_of(store, thread_id))["counts"]["outcome"] == "error"
    await store.record_action(ActionFacts(thread_id, None, T0, ticket_id="T-1"))
    facts = await facts_of(store, thread_id)
    assert (facts["counts"]["outcome"], facts["counts"]["ticket_status"]) == ("escalated", "open")


async def test_a_ticket_change_without_facts_creates_nothing(store):
    thread_id = new_id()
    await store.ticket_changed(thread_id, "T-NOFACTS", "pending")
    assert await facts_of(store, thread_id) is None


async def test_a_ticket_change_on_facts_without_a_ticket_adopts_it(store):
    thread_id = new_id()  # e.g. rebuilt before the store's tickets could be read
    await store.record_action(ActionFacts(thread_id, None, T0, turns=1, answered_at=T0))
    await store.ticket_changed(thread_id, "T-ADOPTED", "pending")
    facts = await facts_of(store, thread_id)
    assert facts["counts"] == BASE | {"turns": 1, "ticket_id": "T-ADOPTED", "ticket_status": "pending",
                                      "outcome": "escalated"}  # fmt: skip


async def test_deleting_a_conversation_deletes_its_facts(store):
    thread_id = new_id()
    await store.record_action(ActionFacts(thread_id, None, T0, turns=1, items=(ItemUse("intent", "greeting"),),
                                          gaps=(Gap("missed", Question(new_id("m"), "?", T0)),)))  # fmt: skip
    await store.delete_thread(thread_id)
    assert await facts_of(store, thread_id) is None
    async with store.engine.connect() as conn:
        for table in (fact_items, content_gaps):
            assert not (await conn.execute(select(table).where(table.c.thread_id == thread_id))).first()


async def test_a_known_conversations_facts_are_one_update(store):
    user = await store.ensure_user(f"{new_id('u')}@example.com", "Sam", None)
    thread_id = new_id()
    await store.record_action(ActionFacts(thread_id, user["identifier"], T0, turns=1))
    seen = sql_seen(store)
    await store.record_action(ActionFacts(thread_id, None, T0, turns=1, answered_at=T0))
    # No thread, owner or facts-row lookup and no insert: the row and its owner are known from the first action.
    assert not [s for s in seen if re.search(rf"\b{threads.name}\b", s) or "insert" in s], seen
    facts = await facts_of(store, thread_id)
    assert facts["counts"] == BASE | {"turns": 2, "outcome": "answered", "user_id": user["id"]}


async def test_an_anonymous_conversation_gets_its_owner_once_a_customer_is_named(store):
    thread_id = new_id()
    await store.record_action(ActionFacts(thread_id, None, T0, turns=1))  # remembered without an owner
    user = await store.ensure_user(f"{new_id('u')}@example.com", "Sam", None)
    await store.record_action(ActionFacts(thread_id, user["identifier"], T0, turns=1))
    assert (await facts_of(store, thread_id))["counts"] == BASE | {"turns": 2, "user_id": user["id"]}


async def test_a_deleted_conversations_facts_are_made_again(store):
    user = await store.ensure_user(f"{new_id('u')}@example.com", "Sam", None)
    thread_id = new_id()
    await store.record_action(ActionFacts(thread_id, user["identifier"], T0, turns=1))
    await store.delete_thread(thread_id)  # the row is gone, though this process remembers it
    await store.record_action(ActionFacts(thread_id, user["identifier"], T0, turns=1))
    facts = await facts_of(store, thread_id)
    assert facts["counts"] == BASE | {"turns": 1, "user_id": user["id"]}
    assert await store.get_thread(thread_id) is not None


async def test_customer_questions_are_the_latest_first(store):
    thread_id = new_id()
    for n, kind in enumerate(["user_message", "assistant_message", "user_message", "user_message"]):
        moment = (T0 + timedelta(seconds=n)).isoformat() + "Z"
        await store.upsert_step({"id": f"{thread_id}-{n}", "threadId": thread_id, "type": kind, "output": f"text {n}",
                                 "createdAt": moment})  # fmt: skip
    questions = await store.customer_questions(thread_id, 2)
    assert [(q.step_id, q.text) for q in questions] == [(f"{thread_id}-3", "text 3"), (f"{thread_id}-2", "text 2")]


# --- rebuilding from the history


async def old_conversation(store, user_id: str | None) -> tuple[str, dict[str, str]]:
    """A conversation from before the facts record: steps as Chainlit stored them, and a 👎 on the first reply."""
    thread_id = new_id()
    await store.update_thread(thread_id, name="old", user_id=user_id)
    steps = [
        ("m1", "user_message", None, RETURNS, False), ("t1", "tool", "lookup_order", "not_found", True),
        ("r1", "assistant_message", "Assistant", "I am not sure.", False),
        ("m2", "user_message", None, CARS, False),
        ("r2", "assistant_message", "Assistant", "We don't.\n\n**Sources:** [1] Catalogue", False),
        ("m3", "user_message", None, HUMAN, False), ("t3", "tool", "hand_over", "{}", False),
        ("r3", "assistant_message", "Support team", "A colleague will follow up.", False),
        ("e1", "assistant_message", "Assistant", "Something went wrong.", True),
    ]  # fmt: skip
    ids = {name: f"{thread_id}-{name}" for name, *_ in steps}
    for n, (name, kind, author, output, error) in enumerate(steps):
        await store.upsert_step({"id": ids[name], "threadId": thread_id, "type": kind, "name": author,
                                 "output": output, "isError": error,
                                 "createdAt": (T0 + timedelta(seconds=n)).isoformat() + "Z"})  # fmt: skip
    await store.save_feedback(for_id=ids["r1"], value=0, comment=None, feedback_id=None, thread_id=thread_id)
    return thread_id, ids


async def test_rebuild_recovers_what_the_history_holds(chat_store):
    store = chat_store
    user = await store.ensure_user(f"{new_id('u')}@example.com", "Mia", None)
    thread_id, ids = await old_conversation(store, user["id"])
    assert await facts_of(store, thread_id) is None, "a rating alone writes no facts"
    opened = T0 + timedelta(seconds=6)

    async def tickets(conversation_id: str) -> StoredTicket | None:
        return StoredTicket("T-OLD00001", "pending", opened) if conversation_id == thread_id else None

    assert await store.rebuild_facts(Tagger(), tickets) == 1
    facts = await facts_of(store, thread_id)
    assert facts["counts"] == BASE | {
        "turns": 3, "errors": 1, "knowledge_misses": 1, "ticket_id": "T-OLD00001", "ticket_status": "pending",
        "last_rating": 0, "outcome": "escalated", "user_id": user["id"],
    }  # fmt: skip
    assert facts["items"] == {("intent", "policy_question"): (1, 0), ("intent", "out_of_scope"): (1, 0),
                              ("intent", "human"): (1, 0), ("tool", "lookup_order"): (1, 1),
                              ("tool", "hand_over"): (1, 0)}  # fmt: skip
    assert facts["gaps"] == {("missed", ids["m1"], RETURNS), ("rated_down", ids["m1"], RETURNS),
                             ("handed_over", ids["m2"], CARS)}  # fmt: skip
    assert facts["started_at"] == T0 and facts["last_customer_at"] == T0 + timedelta(seconds=5)
    assert facts["last_answer_at"] == T0 + timedelta(seconds=7), "the error message is no answer"
    assert facts["first_response_ms"] is None, "unknowable from the history"

    assert await store.rebuild_facts(Tagger(), tickets) == 0, "idempotent: only conversations without facts"
    async with store.engine.begin() as conn:  # what only the live record knows survives --all
        await conn.execute(update(conversation_facts).where(conversation_facts.c.thread_id == thread_id)
                           .values(first_response_ms=420, cards_shown=2, turns=99))  # fmt: skip
    assert await store.rebuild_facts(Tagger(), tickets, everything=True) == 1
    again = await facts_of(store, thread_id)
    assert again["counts"] == facts["counts"] | {"cards_shown": 2} and again["first_response_ms"] == 420
    assert again["items"] == facts["items"] and again["gaps"] == facts["gaps"]


async def test_rebuild_since_a_date_and_without_tagger_or_tickets(chat_store):
    store = chat_store
    thread_id, _ = await old_conversation(store, None)
    async with store.engine.begin() as conn:
        await conn.execute(update(threads).where(threads.c.id == thread_id).values(created_at=T0))
    assert await store.rebuild_facts(None, since=T0 + timedelta(days=1)) == 0
    assert await store.rebuild_facts(None, since=T0) == 1
    facts = await facts_of(store, thread_id)
    assert facts["counts"] == BASE | {"turns": 3, "errors": 1, "last_rating": 0, "outcome": "error"}
    assert facts["gaps"] == {("rated_down", f"{thread_id}-m1", RETURNS)}


class FakeRouter:
    def route(self, text: str) -> Routing:
        tag = TAGS.get(text)
        return Routing(tag.name if tag else "inform", 0.9, "greeting", 0.1, True)


async def test_the_rebuild_command_reads_tickets_from_the_store(tmp_path, monkeypatch, capsys):
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    monkeypatch.setenv("DATABASE_URL", url)  # the store shares the chat history's database
    await migrate_store(url, "")
    from agent.datalayer import migrate
    from agent.datalayer.storage import LocalStorage
    from agent.datalayer.store import ChatStore

    await migrate(url)
    store = ChatStore(url, LocalStorage(tmp_path / "files"), retry_wait_s=0)
    thread_id, ids = await old_conversation(store, None)
    shop = StoreDatabase(url)
    [hand_over] = escalation_tools(shop, Settings())
    result = await hand_over.fn(ToolContext(thread_id), "wants a person", "customer request")
    await shop.dispose()
    monkeypatch.setattr(facts_cli.IntentRouter, "from_settings", lambda embedder, settings: FakeRouter())

    assert await asyncio.to_thread(facts_cli.main, ["rebuild"]) == 0
    assert "rebuilt the facts of 1 conversation" in capsys.readouterr().out
    facts = await facts_of(store, thread_id)
    assert (facts["counts"]["ticket_id"], facts["counts"]["ticket_status"]) == (result.ticket, "open")
    assert ("handed_over", ids["m2"], CARS) in facts["gaps"]
    assert await asyncio.to_thread(facts_cli.main, ["rebuild", "--since", "2020-01-01"]) == 0
    assert "rebuilt the facts of 0 conversations" in capsys.readouterr().out
    await store.close()


# --- the tagger


def routed(intent: str) -> Routing:
    return Routing(intent, 0.9, "greeting", 0.1, intent != "out_of_scope")


@pytest.mark.parametrize(("intent", "asks"), [("policy_question", True), ("out_of_scope", True), ("greeting", False),
                                              ("return_items", False), ("human", False), ("inform", False)])
def test_information_questions_are_policy_and_out_of_scope_ones(intent, asks):
    assert RouterTagger(lambda text: routed(intent)).tag("anything") == IntentTag(intent, asks)


def test_a_failing_router_tags_nothing(caplog):
    def broken(text: str) -> Routing:
        raise RuntimeError("no embeddings today")

    assert RouterTagger(broken).tag("hello") is None
    assert "intent tagging failed" in caplog.text
    assert RouterTagger.building(lambda: (_ for _ in ()).throw(RuntimeError("no model"))).tag("hello") is None


def test_the_factory_tags_with_the_engine_or_builds_a_router(monkeypatch):
    engine = MagicMock(spec=DialogueEngine)
    engine.router = MagicMock()  # an instance attribute: not in the class's spec
    tagger = build_tagger(Settings(), MagicMock(), engine)
    assert tagger.route == engine.route  # the engine's router and lock
    assert tagger.recent == engine.router.recent  # and its memory: a message it routed is tagged on the loop
    monkeypatch.setattr("agent.factory.IntentRouter.from_settings", lambda embedder, settings: FakeRouter())
    tagger = build_tagger(Settings(), MagicMock(), MagicMock())  # an LLM: a router of the tagger's own
    assert tagger.tag(RETURNS) == IntentTag("policy_question", True)
    assert utcnow() > T0
