"""The chat service without any screen: the offline engine, the real tools on a seeded shop, the real
chat-history tables. Nothing here imports Chainlit (tests/test_architecture.py checks the service can't)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from unittest.mock import AsyncMock, MagicMock

import pytest
from sqlalchemy import select

from agent.chat.history import Entry, tool_step_id
from agent.chat.intake import Upload
from agent.chat.service import ChatService, Customer
from agent.datalayer.errors import DataLayerError
from agent.datalayer.history import StoreHistory
from agent.datalayer.migrate import migrate
from agent.datalayer.storage import LocalStorage
from agent.datalayer.store import ChatStore
from agent.factory import build_registry
from agent.offline.answerer import ExtractiveAnswerer
from agent.offline.engine import DialogueEngine
from agent.runner.events import ConfirmationRequested, ErrorEvent, Notice, TextDelta, ToolCallStarted, TurnDone
from agent.runner.memory import ExtractiveSummarizer
from agent.runner.orchestrator import EMPTY_REPLY, SupportAgent
from agent.sessions.base import Decision
from agent.sessions.conversations import ConversationRepository
from agent.sessions.memory import MemoryRateLimiter, MemorySessionStore
from tools.store.accounts import AccountDirectory
from tools.store.models import Order
from tests.test_dialogue_engine import router, shop, status, template  # noqa: F401  (fixtures)

ANONYMOUS = Customer("conv-1", None, "Visitor")


@pytest.fixture
async def history(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'history.db'}"
    await migrate(url)
    store = ChatStore(url, LocalStorage(tmp_path / "files"))
    yield store
    await store.close()


def make_service(shop, shipped_kb, settings, router, history=None, limiter=None, uploads=None):  # noqa: F811
    engine = DialogueEngine(router, ExtractiveAnswerer(shipped_kb.embedder, settings.offline, settings.app), settings.app)
    agent = SupportAgent(engine, build_registry(settings, shipped_kb, shop), shipped_kb, settings,
                         uploads=uploads, accounts=AccountDirectory(shop).customer_for)
    sessions = MemorySessionStore(60, 1)
    repository = ConversationRepository(sessions, ExtractiveSummarizer(4), max_messages=20, max_tokens=2000)
    service = ChatService(agent, repository, limiter or MemoryRateLimiter(600, 100), uploads, history,
                          assistant_name="Larkspur Assistant")
    return service, sessions


class Recorder:
    """A `History` that keeps what it is given, in order."""

    def __init__(self, into: list[Entry]) -> None:
        self.entries = into

    async def conversation_messages(self, conversation_id):
        return []

    async def record(self, conversation_id, entries):
        self.entries.extend(entries)


async def collect(events) -> list:
    return [event async for event in events]


def text_of(events: list) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_a_whole_return_identification_card_and_confirmation(shop, shipped_kb, settings, router, history):  # noqa: F811
    service, sessions = make_service(shop, shipped_kb, settings, router, StoreHistory(history))

    events = await collect(service.send(ANONYMOUS, "I want to return the headphones from my last order"))
    assert "email" in text_of(events) and isinstance(events[-1], TurnDone)
    events = await collect(service.send(ANONYMOUS, "dana@example.com"))
    assert "Headphones" in text_of(events)
    events = await collect(service.send(ANONYMOUS, "Visa ending 4242"))
    [card] = [e for e in events if isinstance(e, ConfirmationRequested)]
    assert card.tool == "return_delivered_order_items"
    assert await status(shop, "#W1001001") == "delivered", "the card only previews"

    events = await collect(service.confirm(ANONYMOUS, card.token, approve=True, reply_id="reply-confirm"))
    assert "is requested" in text_of(events) and events[-1] == TurnDone(text_of(events), "completed")
    assert await status(shop, "#W1001001") == "return requested"
    again = await collect(service.confirm(ANONYMOUS, card.token, approve=True))  # a double click
    assert text_of(again) == text_of(events)
    async with shop.read() as session:
        assert (await session.scalars(select(Order.status).where(Order.id == "#W1001001"))).one() == "return requested"

    transcript = await history.conversation_messages("conv-1")
    assert [role for role, _ in transcript] == ["user", "assistant"] * 3 + ["assistant", "assistant"]
    assert transcript[0] == ("user", "I want to return the headphones from my last order")
    assert transcript[-2][1] == text_of(events), "the click's answer is in the history, under the given id"
    assert (await history.step_thread("reply-confirm")) == "conv-1"
    assert (await sessions.get("conv-1"))["pending"] == {}

    # The tools ran are in the stored transcript too (a lead reads them there, whatever the channel), under the
    # id a channel showing the step derives as well, so Chainlit's own copy rewrites the same row.
    [applied] = [e for e in events if isinstance(e, ToolCallStarted)]
    steps = {step["id"]: step for step in (await history.get_thread("conv-1"))["steps"]}
    step = steps[tool_step_id("reply-confirm", applied.call_id)]
    assert step["type"] == "tool" and step["name"] == "return_delivered_order_items"
    assert "#W1001001" in step["input"] and step["isError"] is False and "return requested" in step["output"]


async def test_everything_is_recorded_before_the_turn_ends(shop, shipped_kb, settings, router):  # noqa: F811
    recorded: list[Entry] = []
    seen_at_done: list[int] = []

    service, _ = make_service(shop, shipped_kb, settings, router, Recorder(recorded))
    async for event in service.send(ANONYMOUS, "How long do I have to return an item?", message_id="m1",
                                    reply_id="r1"):
        if isinstance(event, TurnDone):
            seen_at_done.append(len(recorded))
    assert [(e.id, e.speaker) for e in recorded] == [("m1", "customer"), ("r1", "assistant")]
    assert seen_at_done == [2], "TurnDone comes only after the history has both"
    assert "30 days" in recorded[1].text and "**Sources:**" in recorded[1].text


class HeldRecorder(Recorder):
    """A `Recorder` whose first write waits until `release` is set: a history busy with other chats' writes."""

    def __init__(self, into: list[Entry]) -> None:
        super().__init__(into)
        self.release = asyncio.Event()

    async def record(self, conversation_id, entries):
        if not self.entries:
            await self.release.wait()
        await super().record(conversation_id, entries)


async def test_a_message_the_channel_stored_does_not_hold_the_first_words_up(shop, shipped_kb, settings, router):  # noqa: F811
    """A channel that stored the message (Chainlit) gives its time: the first words need not wait for the
    service's copy to be written, and the turn still ends only once both are, in order, the message dated so."""
    recorded: list[Entry] = []
    history = HeldRecorder(recorded)
    service, _ = make_service(shop, shipped_kb, settings, router, history)
    stored_at = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
    events = service.send(ANONYMOUS, "How long do I have to return an item?", message_id="m1", reply_id="r1",
                          received_at=stored_at)

    async def first_words():
        async for event in events:
            if isinstance(event, TextDelta):
                return event

    # Guarding against a hang only (the write waits until released): a turn that waits for it never speaks.
    assert isinstance(await asyncio.wait_for(first_words(), timeout=120), TextDelta)
    assert recorded == [], "the first words came while the message's write was still waiting"
    history.release.set()
    rest = await collect(events)
    assert isinstance(rest[-1], TurnDone)
    assert [(e.id, e.speaker) for e in recorded] == [("m1", "customer"), ("r1", "assistant")]
    assert recorded[0].created_at == stored_at


async def test_a_message_only_the_service_stores_is_written_before_the_turn_goes_on(shop, shipped_kb, settings,
                                                                                    router):  # noqa: F811
    recorded: list[Entry] = []
    history = HeldRecorder(recorded)
    service, _ = make_service(shop, shipped_kb, settings, router, history)
    asyncio.get_running_loop().call_later(0.2, history.release.set)
    stored_when_first_shown = None
    async for event in service.send(ANONYMOUS, "How long do I have to return an item?", message_id="m1"):
        if stored_when_first_shown is None:
            stored_when_first_shown = [e.id for e in recorded]
    assert stored_when_first_shown == ["m1"]
    assert recorded[0].created_at is None  # dated by the history when it arrives


async def test_a_history_outage_is_said_and_memory_keeps_the_turn(shop, shipped_kb, settings, router):  # noqa: F811
    broken = MagicMock()
    broken.record = AsyncMock(side_effect=DataLayerError("database is down"))
    service, sessions = make_service(shop, shipped_kb, settings, router, broken)
    events = await collect(service.send(ANONYMOUS, "hello"))
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert [e.message for e in errors] == [DataLayerError.user_message]
    assert isinstance(events[-1], TurnDone)
    assert (await sessions.get("conv-1"))["messages"][0]["content"] == "hello"


async def test_rate_limited_messages_wait_and_reach_nobody(shop, shipped_kb, settings, router):  # noqa: F811
    limiter = MagicMock()
    limiter.hit = AsyncMock(return_value=Decision(False, 12.2))
    service, sessions = make_service(shop, shipped_kb, settings, router, limiter=limiter)
    events = await collect(service.send(ANONYMOUS, "again"))
    assert isinstance(events[0], Notice) and "wait 13 seconds" in events[0].text
    assert events[-1].status == "rejected"
    assert await sessions.get("conv-1") is None, "a refused message never reaches the agent"


@pytest.mark.parametrize("blank", ["", "   \n\t "])
async def test_a_blank_message_is_answered_and_stores_nothing(shop, shipped_kb, settings, router, blank):  # noqa: F811
    recorded: list[Entry] = []
    service, sessions = make_service(shop, shipped_kb, settings, router, Recorder(recorded))
    events = await collect(service.send(ANONYMOUS, blank))
    assert [e.text for e in events if isinstance(e, Notice)] == [EMPTY_REPLY]
    assert events[-1].status == "rejected"
    assert recorded == [] and await sessions.get("conv-1") is None, "nothing stored for nothing said"


async def test_uploads_are_checked_by_the_service(shop, shipped_kb, settings, router, tmp_path):  # noqa: F811
    library = MagicMock()
    library.limits.max_bytes, library.limits.max_files = 10, 3
    library.too_many.return_value = None
    big = tmp_path / "big.txt"
    big.write_text("x" * 11)
    service, sessions = make_service(shop, shipped_kb, settings, router, uploads=library)
    events = await collect(service.send(ANONYMOUS, "", [Upload("big.txt", path=big)]))
    [notice] = [e for e in events if isinstance(e, Notice)]
    assert "larger than the" in notice.text
    library.add.assert_not_called()  # refused before being read


async def test_a_stopped_turn_still_records_what_was_shown(shop, shipped_kb, settings, router):  # noqa: F811
    recorded: list[Entry] = []

    service, _ = make_service(shop, shipped_kb, settings, router, Recorder(recorded))
    events = service.send(ANONYMOUS, "How long do I have to return an item?", reply_id="r1")
    async for event in events:
        if isinstance(event, TextDelta):
            break  # the customer pressed stop after the first words
    await events.aclose()
    assert [e.id for e in recorded][-1] == "r1" and recorded[-1].text


async def test_a_message_the_channel_stored_first_keeps_its_time(shop, shipped_kb, settings, router, history):  # noqa: F811
    """Chainlit stores the customer's message (and nests the turn under it) before the service runs: the
    service's write must not move it after the turn, or a reloaded thread would drop the reply."""
    await history.upsert_step({"id": "m1", "threadId": "conv-1", "type": "user_message", "name": "Visitor",
                               "output": "hello", "createdAt": "2026-01-01T00:00:00.000000Z"})
    service, _ = make_service(shop, shipped_kb, settings, router, StoreHistory(history))
    await collect(service.send(ANONYMOUS, "hello", message_id="m1", reply_id="r1"))
    thread = await history.get_thread("conv-1")
    times = {step["id"]: step["createdAt"] for step in thread["steps"]}
    assert times["m1"] == "2026-01-01T00:00:00Z" or times["m1"].startswith("2026-01-01T00:00:00")
    assert times["r1"] > times["m1"]


async def test_an_answered_turn_writes_after_the_waiting_turns_first_words(shop, shipped_kb, settings, router):  # noqa: F811
    """The reply is shown at once; its write (and so the turn's end) waits for the other turn's first words."""
    recorded: list[Entry] = []
    service, _ = make_service(shop, shipped_kb, settings, router, Recorder(recorded))
    from agent.chat.priority import FirstWordsFirst

    service.first_words = FirstWordsFirst(crowd=1, max_wait_s=5.0)
    shown, done = asyncio.Event(), asyncio.Event()

    async def customer() -> None:
        async for event in service.send(ANONYMOUS, "How long do I have to return an item?", message_id="m1",
                                        reply_id="r1"):
            if isinstance(event, TextDelta):
                shown.set()
            if isinstance(event, TurnDone):
                done.set()

    service.first_words.arrived()  # another conversation's turn, still before its first words
    turn = asyncio.ensure_future(customer())
    await asyncio.wait_for(shown.wait(), 10)
    await asyncio.sleep(0.1)
    assert [e.id for e in recorded] == ["m1"] and not done.is_set(), "the reply's write waits"
    service.first_words.answered()
    await asyncio.wait_for(turn, 5)
    assert [e.id for e in recorded] == ["m1", "r1"]


async def test_a_stop_while_the_writes_wait_keeps_the_reply_and_the_turn_completed(shop, shipped_kb, settings,
                                                                                    router):  # noqa: F811
    from agent import metrics
    from agent.chat.priority import FirstWordsFirst

    recorded: list[Entry] = []
    service, _ = make_service(shop, shipped_kb, settings, router, Recorder(recorded))
    service.first_words = FirstWordsFirst(crowd=1, max_wait_s=5.0)
    completed = metrics.TURNS.labels("message", "completed")
    before = completed._value.get()
    shown = asyncio.Event()

    async def customer() -> None:
        async for event in service.send(ANONYMOUS, "How long do I have to return an item?", message_id="m1",
                                        reply_id="r1"):
            if isinstance(event, TextDelta):
                shown.set()

    service.first_words.arrived()  # another turn before its first words: this one's writes wait
    turn = asyncio.ensure_future(customer())
    await asyncio.wait_for(shown.wait(), 10)
    await asyncio.sleep(0.1)
    turn.cancel()  # the customer's stop, while the writes wait
    await asyncio.gather(turn, return_exceptions=True)
    assert [e.id for e in recorded] == ["m1", "r1"], "the history keeps the shown reply"
    assert completed._value.get() == before + 1
    assert service.first_words.waiting == 1 and service.running == 0
