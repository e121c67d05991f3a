"""The conversation facts the chat service records (agent/chat/facts.py), end to end: a scripted model, small tools,
the real chat store on SQLite and PostgreSQL. Every test reads the stored row, its items and its gaps back (cards:
tests/test_facts_cards.py).

PostgreSQL runs in the session's shared schema (tests.postgres), so each test uses its own conversation ids.
"""

from __future__ import annotations

import uuid
from contextlib import aclosing

from agent.chat.facts import FactsRecorder, TurnFacts
from agent.chat.service import ChatService, Customer
from agent.datalayer.errors import DataLayerError
from agent.datalayer.history import StoreHistory
from agent.errors import ModelError
from agent.factory import build_registry, build_tagger
from agent.models.scripted import FunctionModel, ScriptedModel, call_tools, tool_call
from agent.offline.answerer import ExtractiveAnswerer
from agent.offline.engine import DialogueEngine
from agent.runner.events import ErrorEvent, Escalation, TextDelta, TurnDone
from agent.runner.memory import ExtractiveSummarizer
from agent.runner.orchestrator import SupportAgent
from agent.sessions.conversations import ConversationRepository
from agent.sessions.memory import MemoryRateLimiter, MemorySessionStore
from agent.settings import Settings
from tests.datalayer_fixtures import database, no_database_env  # noqa: F401 (fixtures)
from tests.facts_fixtures import (  # noqa: F401 (store: a fixture)
    BASE, CARS, HUMAN, RETURNS, TICKET, WEATHER, chat, facts_of, send, store, visitor, window,
)  # fmt: skip
from tests.postgres import pg_schema  # noqa: F401 (fixture)
from tests.test_dialogue_engine import router, shop, template  # noqa: F401 (fixtures)
from tools.store.accounts import AccountDirectory


async def test_an_answered_question(store):
    user = await store.ensure_user(f"dana-{uuid.uuid4().hex[:8]}@example.com", "Dana", None)
    who = Customer(f"conv-{uuid.uuid4().hex}", user["identifier"], "Dana")
    model = ScriptedModel(["You have 30 days [1].", "Anything else?"])
    service = chat(store, model)
    with window() as when:
        events = await send(service, who, RETURNS, message_id=f"m-{who.conversation_id}")
    assert events[-1].status == "completed"

    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"] == BASE | {"turns": 1, "outcome": "answered", "user_id": user["id"]}
    assert facts["items"] == {("intent", "policy_question"): (1, 0)}
    assert facts["gaps"] == set()
    assert when.start <= facts["started_at"] <= facts["last_customer_at"] <= facts["last_answer_at"] <= when.end
    first = facts["first_response_ms"]
    assert isinstance(first, int) and 0 <= first < 5000

    model.delay_s = 0.2  # a slow second answer must not replace the first response time
    await send(service, who, "hi")
    facts = await facts_of(store, who.conversation_id)
    assert facts["first_response_ms"] == first
    assert facts["counts"] == BASE | {"turns": 2, "outcome": "answered", "user_id": user["id"]}
    assert facts["items"] == {("intent", "policy_question"): (1, 0), ("intent", "greeting"): (1, 0)}


async def test_a_question_the_knowledge_base_did_not_answer_is_a_miss(store):
    who = visitor()
    service = chat(store, ScriptedModel(["I'm not sure, sorry.", "Hello!", "No idea."]))
    message_id = f"m-{uuid.uuid4().hex}"
    with window() as when:
        await send(service, who, CARS, message_id=message_id)
    await send(service, who, "hi")  # not an information question: no miss however it is answered

    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"] == BASE | {"turns": 2, "knowledge_misses": 1, "outcome": "answered"}
    [(kind, step_id, question)] = facts["gaps"]
    assert (kind, step_id, question) == ("missed", message_id, CARS)
    assert when.start <= facts["gap_times"][step_id] <= when.end

    await send(service, who, "Something nobody tagged")  # the tagger does not know: no intent, no miss
    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"]["knowledge_misses"] == 1 and facts["counts"]["turns"] == 3


async def test_tool_runs_and_failures_are_counted_and_a_tool_answer_is_no_miss(store):
    who = visitor()
    model = ScriptedModel([
        call_tools(tool_call("lookup_order", {"order_id": "#W0000002"})),
        call_tools(tool_call("lookup_order", {"order_id": "#W0000001"})),
        "It was delivered.",
    ])  # fmt: skip
    await send(chat(store, model), who, RETURNS)

    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"] == BASE | {"turns": 1, "outcome": "answered"}, "a tool worked: not a miss"
    assert facts["items"] == {("intent", "policy_question"): (1, 0), ("tool", "lookup_order"): (2, 1)}


async def test_a_hand_over_records_its_ticket_and_the_question_behind_it(store):
    who = visitor()
    model = ScriptedModel(["I don't know that one.", call_tools(tool_call("hand_over", {"summary": "returns"})),
                           "A colleague will help."])  # fmt: skip
    service = chat(store, model)
    question_id = f"m-{uuid.uuid4().hex}"
    await send(service, who, RETURNS, message_id=question_id)
    events = await send(service, who, HUMAN)
    assert [e.ticket_id for e in events if isinstance(e, Escalation)] == [TICKET]

    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"] == BASE | {"turns": 2, "knowledge_misses": 1, "ticket_id": TICKET,
                                      "ticket_status": "open", "outcome": "escalated"}  # fmt: skip
    assert facts["gaps"] == {("missed", question_id, RETURNS), ("handed_over", question_id, RETURNS)}
    assert facts["items"][("tool", "hand_over")] == (1, 0)

    await store.ticket_changed(who.conversation_id, "T-SOMEOTHER", "solved")  # another ticket: not this one's
    assert (await facts_of(store, who.conversation_id))["counts"]["ticket_status"] == "open"
    await store.ticket_changed(who.conversation_id, TICKET, "solved")
    facts = await facts_of(store, who.conversation_id)
    assert (facts["counts"]["ticket_status"], facts["counts"]["outcome"]) == ("solved", "escalated")


async def test_a_hand_over_without_an_information_question_leaves_no_gap(store):
    who = visitor()
    model = ScriptedModel([call_tools(tool_call("hand_over", {"summary": "wants a person"})), "Done."])
    await send(chat(store, model), who, HUMAN)

    facts = await facts_of(store, who.conversation_id)
    assert facts["gaps"] == set() and facts["counts"]["outcome"] == "escalated"


async def test_errors_count_and_refusals_do_not(store):
    who = visitor()
    service = chat(store, ScriptedModel([ModelError("bad_response", "garbled")]))
    events = await send(service, who, RETURNS)
    assert isinstance(events[-2], ErrorEvent) and events[-1].status == "failed"
    too_long = await send(service, who, "x" * (Settings().chat.max_message_chars + 1))
    assert too_long[0].kind == "invalid_input"

    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"] == BASE | {"turns": 2, "errors": 1, "outcome": "error"}, "a failed turn is no miss"
    assert facts["last_answer_at"] is None and facts["first_response_ms"] is None


async def test_a_stopped_reply_is_recorded_without_an_error(store):
    who = visitor()
    service = chat(store, FunctionModel(lambda request: "Let me think about that for a while.", delay_s=0.05))
    async with aclosing(service.send(who, CARS)) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                break  # the customer pressed Stop

    facts = await facts_of(store, who.conversation_id)
    # Stopped, not completed: no error, and not a miss either (nobody knows what the answer would have been).
    assert facts["counts"] == BASE | {"turns": 1, "outcome": "answered"}
    assert facts["last_answer_at"] is not None and facts["first_response_ms"] is not None


async def test_ratings_keep_the_last_rating_and_rated_down_gaps(store):
    who = visitor()
    service = chat(store, ScriptedModel(["You have 30 days [1].", "Hello!"]))
    question_id, reply_id = f"m-{uuid.uuid4().hex}", f"r-{uuid.uuid4().hex}"
    await send(service, who, RETURNS, message_id=question_id, reply_id=reply_id)
    await send(service, who, "hi")

    feedback_id = await store.save_feedback(for_id=reply_id, value=1, comment=None, feedback_id=None,
                                            thread_id=who.conversation_id)
    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"]["last_rating"] == 1 and facts["gaps"] == set()

    await store.save_feedback(for_id=reply_id, value=0, comment="wrong", feedback_id=feedback_id,
                              thread_id=who.conversation_id)
    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"]["last_rating"] == 0
    assert facts["gaps"] == {("rated_down", question_id, RETURNS)}

    assert await store.delete_feedback(feedback_id)
    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"] == BASE | {"turns": 2, "outcome": "answered"} and facts["gaps"] == set()


async def test_a_rating_without_facts_changes_nothing_else(store):
    thread_id, step_id = f"conv-{uuid.uuid4().hex}", f"r-{uuid.uuid4().hex}"
    await store.upsert_step({"id": step_id, "threadId": thread_id, "type": "assistant_message", "output": "Hi"})
    assert await store.save_feedback(for_id=step_id, value=0, comment=None, feedback_id=None, thread_id=thread_id)
    assert await facts_of(store, thread_id) is None


class Broken:
    async def record_action(self, facts):
        raise DataLayerError("facts table is locked")

    async def customer_questions(self, conversation_id, limit):
        raise DataLayerError("down")


class Exploding:
    def tag(self, text):
        raise RuntimeError("the router fell over")


async def test_a_facts_outage_or_a_broken_tagger_never_reaches_the_customer(store, caplog):
    who = visitor()
    service = chat(store, ScriptedModel(["You have 30 days [1]."]), facts=Broken())
    events = await send(service, who, RETURNS)
    assert not [e for e in events if isinstance(e, ErrorEvent)] and events[-1].status == "completed"
    assert await store.conversation_messages(who.conversation_id), "the history is whole"
    assert "facts of this action not recorded" in caplog.text

    who = visitor()
    service = chat(store, ScriptedModel(["I don't know."]), tagger=Exploding())
    events = await send(service, who, RETURNS)
    assert events[-1].status == "completed"
    facts = await facts_of(store, who.conversation_id)
    assert facts["counts"] == BASE | {"turns": 1, "outcome": "answered"} and facts["items"] == {}


class Watching:
    """A FactsLog that notes how many actions were recorded."""

    def __init__(self) -> None:
        self.recorded = []

    async def record_action(self, facts):
        self.recorded.append(facts)

    async def customer_questions(self, conversation_id, limit):
        return []


async def test_the_facts_are_written_before_the_turn_is_done(store):
    log = Watching()
    seen_at_done = []
    service = chat(store, ScriptedModel(["Hello!"]), facts=log)
    async for event in service.send(visitor(), "hi"):
        if isinstance(event, TurnDone):
            seen_at_done.append(len(log.recorded))
    assert seen_at_done == [1]


async def test_a_rate_limited_message_records_nothing(store):
    log = Watching()
    service = chat(store, ScriptedModel(["Hello!"]), facts=log)
    service.limiter = MemoryRateLimiter(1, 1)
    who = visitor()
    await send(service, who, "hi")  # spends the only token
    refused = await send(service, who, "hi again")
    assert refused[-1].status == "rejected"
    assert len(log.recorded) == 1


def test_turn_facts_need_no_screen_and_no_store():
    turn = TurnFacts.for_message("c", None, "m1", "   ")
    assert turn.message is None, "files alone are not a turn"
    assert turn.result().turns == 0
    assert FactsRecorder(None, None).facts is None


async def test_the_offline_engine_and_its_own_router_as_tagger(shop, shipped_kb, settings, router, store):  # noqa: F811
    """The real wiring: the engine's router tags, the real hand-over tool opens a ticket. The help centre answers
    the return question with sources; the weather is out of scope, a miss, and the question behind the hand-over."""
    engine = DialogueEngine(router, ExtractiveAnswerer(shipped_kb.embedder, settings.offline, settings.app),
                            settings.app)
    agent = SupportAgent(engine, build_registry(settings, shipped_kb, shop), shipped_kb, settings,
                         accounts=AccountDirectory(shop).customer_for)
    sessions = ConversationRepository(MemorySessionStore(60, 1), ExtractiveSummarizer(4), max_messages=20,
                                      max_tokens=2000)
    service = ChatService(agent, sessions, MemoryRateLimiter(600, 100), None, StoreHistory(store), facts=store,
                          tagger=build_tagger(settings, shipped_kb.embedder, engine))
    who = visitor()
    question_id = f"m-{uuid.uuid4().hex}"
    await send(service, who, RETURNS)
    await send(service, who, WEATHER, message_id=question_id)
    await send(service, who, "I want to talk to a real person")

    facts = await facts_of(store, who.conversation_id)
    counts = facts["counts"]
    assert counts["ticket_id"].startswith("T-")
    assert counts == BASE | {"turns": 3, "knowledge_misses": 1, "ticket_id": counts["ticket_id"],
                             "ticket_status": "open", "outcome": "escalated"}  # fmt: skip
    assert facts["items"] == {("intent", "policy_question"): (1, 0), ("intent", "out_of_scope"): (1, 0),
                              ("intent", "human"): (1, 0), ("tool", "transfer_to_human_agents"): (1, 0)}
    assert facts["gaps"] == {("missed", question_id, WEATHER), ("handed_over", question_id, WEATHER)}


async def test_a_message_the_engine_routed_is_tagged_without_embedding_again(router):  # noqa: F811
    """The facts' tag of a message the engine routed this turn comes from the router's memory, on the event loop:
    under a hundred chats, the worker thread's queue was most of the facts' wait."""
    from agent.chat.tagging import EngineTagger

    def embeds(text: str):
        raise AssertionError(f"routed again: {text!r}")

    recorder = FactsRecorder(None, EngineTagger(embeds, router.recent))
    router.route("where is my order #W1001001")
    tag = await recorder.tag("where is my order #W1001001")
    assert tag is not None and tag.name == "order_status" and not tag.asks_knowledge
    assert await recorder.tag("a message nobody routed") is None  # would embed: the broken router says no


async def test_a_tagger_of_its_own_tags_the_message_beside_the_turn(router):  # noqa: F811
    """With an LLM answering, the tagger embeds the message itself: it starts with the turn and is done by its end,
    so recording the facts waits only for the write. The engine's own router is not asked early (it routes the
    message during the turn anyway)."""
    import asyncio
    import threading

    from agent.chat.tagging import EngineTagger, RouterTagger

    started, release = threading.Event(), threading.Event()

    def route(text: str):
        started.set()
        release.wait(5)
        return router.route(text)

    class Facts:
        def __init__(self) -> None:
            self.recorded = []

        async def record_action(self, facts) -> None:
            self.recorded.append(facts)

    facts = Facts()
    recorder = FactsRecorder(facts, RouterTagger(route))
    turn = TurnFacts.for_message("c-1", None, "m-1", "where is my order #W1001001")
    recorder.begin(turn)
    assert await asyncio.to_thread(started.wait, 5), "tagging began with the turn"
    release.set()
    turn.finish("completed")
    await recorder.record(turn)
    assert [(i.kind, i.name) for i in facts.recorded[0].items] == [("intent", "order_status")]

    engine_turn = TurnFacts.for_message("c-1", None, "m-2", "thanks")
    FactsRecorder(facts, EngineTagger(router.route, router.recent)).begin(engine_turn)
    assert engine_turn.tagging is None
