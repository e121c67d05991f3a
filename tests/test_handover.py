"""Live hand-over without a screen: the hand-over records (SQLite and PostgreSQL), the desk over a real chat
store and the in-process relay, and the chat service keeping the assistant quiet while a human holds the
conversation. The browser tests (tests/test_browser_handover.py) drive the same through the pages."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from agent.chat.facts import FactsRecorder
from agent.chat.desk import CLOSED, JOINED, LEFT, UNANSWERED, HumanDesk
from agent.chat.history import Entry
from agent.chat.handovers import HandoverTaken, HumanMessageRefused, NotHeld, Staff
from agent.chat.service import HELD_CARD, Customer
from agent.datalayer import models
from agent.datalayer.history import StoreHistory
from agent.runner.events import ConfirmationRequested, Notice, TextDelta, TurnDone
from agent.sessions.memory import MemoryRateLimiter
from agent.sessions.relay import MemoryRelay, RelayUnavailable, customer_channel, staff_channel
from tests.datalayer_fixtures import chat_store, no_database_env  # noqa: F401  (fixtures)
from tests.postgres import pg_schema  # noqa: F401
from tests.test_chat_service import collect, history, make_service, text_of  # noqa: F401
from tests.test_dialogue_engine import router, shop, status, template  # noqa: F401  (fixtures)
from tools.store.sql import utcnow

LEE = Staff("lee@larkspur.example", "Lee Park")
SAM = Staff("sam@larkspur.example", "Sam Ortiz")


async def owned_thread(store, identifier: str = "maya@example.com") -> str:
    user = await store.ensure_user(identifier, "Maya", {})
    thread_id = str(uuid.uuid4())
    await store.update_thread(thread_id, name="Help", user_id=user["id"])
    return thread_id


def make_desk(store, relay=None, limiter=None, max_chars: int = 200) -> HumanDesk:
    return HumanDesk(store, StoreHistory(store), relay or MemoryRelay(), limiter or MemoryRateLimiter(600, 100),
                     store_name="Larkspur Goods", assistant_name="Larkspur Assistant", max_chars=max_chars)


async def steps_of(store, thread_id: str) -> list[dict]:
    return (await store.get_thread(thread_id))["steps"]


# ---- the records ----------------------------------------------------------------------------------------------

async def test_one_human_holds_a_conversation_at_a_time(chat_store):
    thread_id = await owned_thread(chat_store)
    held = await chat_store.start_handover(thread_id, "T-1", LEE, utcnow())
    assert (await chat_store.live_handover(thread_id)).staff == LEE
    assert (await chat_store.start_handover(thread_id, "T-1", LEE, utcnow())).id == held.id  # again: the same
    with pytest.raises(HandoverTaken) as taken:
        await chat_store.start_handover(thread_id, "T-1", SAM, utcnow())
    assert "Lee Park" in taken.value.user_message
    ended = await chat_store.end_handover(thread_id, "handed_back")
    assert ended.id == held.id and ended.ended_at is not None
    assert await chat_store.live_handover(thread_id) is None
    assert (await chat_store.start_handover(thread_id, "T-1", SAM, utcnow())).staff == SAM  # free again


async def test_two_take_overs_at_once_have_one_winner(chat_store):
    thread_id = await owned_thread(chat_store)
    results = await asyncio.gather(*(chat_store.start_handover(thread_id, "T-1", who, utcnow()) for who in (LEE, SAM)),
                                   return_exceptions=True)  # fmt: skip
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1 and sum(isinstance(r, HandoverTaken) for r in results) == 1
    assert (await chat_store.live_handover(thread_id)).staff == winners[0].staff


async def test_the_first_reply_is_stamped_once(chat_store):
    thread_id = await owned_thread(chat_store)
    held = await chat_store.start_handover(thread_id, "T-1", LEE, utcnow())
    assert await chat_store.first_human_reply(held) is True
    assert await chat_store.first_human_reply(held) is False


async def test_only_a_signed_in_owner_gets_an_outbox_row(chat_store):
    owned, anonymous = await owned_thread(chat_store), str(uuid.uuid4())
    await chat_store.update_thread(anonymous, name="anon")
    assert await chat_store.notify_absent(owned, "Lee replied", "Hello") is True
    assert await chat_store.notify_absent(anonymous, "Lee replied", "Hello") is False
    rows = await chat_store.pending_notifications(10)
    assert [(r["thread_id"], r["recipient"], r["kind"], r["body"]) for r in rows] == [
        (owned, "maya@example.com", "human_reply", "Hello")]


# ---- the desk -------------------------------------------------------------------------------------------------

@pytest.fixture
async def store(history):  # noqa: F811  (SQLite chat store of tests/test_chat_service.py)
    return history


async def test_taking_over_is_said_to_both_sides_and_stored(store):
    relay = MemoryRelay()
    desk = make_desk(store, relay)
    thread_id = await owned_thread(store)
    async with relay.listen(customer_channel(thread_id)) as customer, relay.listen(staff_channel(thread_id)) as staff:
        await desk.take_over(thread_id, "T-1", utcnow() - timedelta(minutes=3), LEE)
        said = await asyncio.wait_for(anext(customer), 1)
        assert (said.kind, said.author) == ("joined", "Lee Park")
        assert said.text == JOINED.format(name="Lee Park", store="Larkspur Goods")
        assert (await asyncio.wait_for(anext(staff), 1)).id == said.id
    await desk.take_over(thread_id, "T-1", utcnow(), LEE)  # taking it again says nothing twice
    joined = [s for s in await steps_of(store, thread_id) if s["output"] == said.text]
    assert len(joined) == 1 and joined[0]["name"] == "Lee Park" and joined[0]["metadata"]["human"] is True


async def test_a_reply_is_stored_as_the_humans_and_delivered(store):
    relay = MemoryRelay()
    desk = make_desk(store, relay)
    thread_id = await owned_thread(store)
    await desk.take_over(thread_id, "T-1", utcnow(), LEE)
    async with relay.listen(customer_channel(thread_id)) as customer:
        event = await desk.reply(thread_id, LEE, "  Hi Maya, I'm looking at your order now.  ")
        assert (await asyncio.wait_for(anext(customer), 1)).text == "Hi Maya, I'm looking at your order now."
    step = next(s for s in await steps_of(store, thread_id) if s["id"] == event.id)
    assert (step["type"], step["name"], step["metadata"]) == (
        "assistant_message", "Lee Park", {"human": True})
    assert await store.pending_notifications(10) == []  # the customer's chat had it: no notice


def counted(name: str, label: str, value: str) -> float:
    return REGISTRY.get_sample_value(f"support_{name}_total", {label: value}) or 0.0


async def test_a_reply_to_an_absent_customer_goes_to_the_outbox(store):
    desk = make_desk(store)
    thread_id = await owned_thread(store)
    taken, queued = counted("handovers", "event", "taken"), counted("human_messages", "outcome", "queued")
    await desk.take_over(thread_id, "T-1", utcnow(), LEE)
    await desk.reply(thread_id, LEE, "Your refund is on its way.")
    assert counted("handovers", "event", "taken") == taken + 1
    assert counted("human_messages", "outcome", "queued") == queued + 1
    [row] = await store.pending_notifications(10)
    assert (row["recipient"], row["body"]) == ("maya@example.com", "Your refund is on its way.")
    assert "Lee Park" in row["subject"]


class DownRelay(MemoryRelay):
    """Redis is down: nothing can be published (listening still opens, as RedisRelay's does)."""

    async def publish(self, channel, event):
        raise RelayUnavailable("connection refused")


async def test_with_the_relay_down_a_reply_is_stored_and_the_customer_notified(store):
    desk = make_desk(store, DownRelay())
    thread_id = await owned_thread(store)
    await desk.take_over(thread_id, "T-1", utcnow(), LEE)
    event = await desk.reply(thread_id, LEE, "Are you still there?")
    assert event.id in [s["id"] for s in await steps_of(store, thread_id)]
    assert [r["body"] for r in await store.pending_notifications(10)] == ["Are you still there?"]


async def test_only_the_holder_writes_and_hands_back(store):
    desk = make_desk(store)
    thread_id = await owned_thread(store)
    with pytest.raises(NotHeld):
        await desk.reply(thread_id, LEE, "Hello")
    await desk.take_over(thread_id, "T-1", utcnow(), LEE)
    with pytest.raises(HandoverTaken):
        await desk.take_over(thread_id, "T-1", utcnow(), SAM)
    with pytest.raises(HandoverTaken):
        await desk.reply(thread_id, SAM, "Hello")
    with pytest.raises(HandoverTaken):
        await desk.hand_back(thread_id, SAM)
    assert [s["name"] for s in await steps_of(store, thread_id)].count("Sam Ortiz") == 0
    await desk.hand_back(thread_id, LEE)
    assert await desk.holder(thread_id) is None
    assert (await steps_of(store, thread_id))[-1]["output"] == LEFT.format(name="Lee Park")


async def test_handing_back_tells_a_waiting_customer_to_ask_again(store):
    desk = make_desk(store)
    thread_id = await owned_thread(store)
    await desk.take_over(thread_id, "T-1", utcnow(), LEE)
    await desk.reply(thread_id, LEE, "Hi Maya, I'm on it.")
    waiting = Entry(str(uuid.uuid4()), "customer", "Maya", "And can you check my refund too?")
    await StoreHistory(store).record(thread_id, [waiting])  # as the chat service stores it while Lee holds
    await desk.hand_back(thread_id, LEE)
    assert (await steps_of(store, thread_id))[-1]["output"] == f"{LEFT.format(name='Lee Park')} {UNANSWERED}"
    await desk.take_over(thread_id, "T-2", utcnow(), LEE)
    await desk.reply(thread_id, LEE, "Your refund was issued yesterday.")
    await desk.hand_back(thread_id, LEE)  # answered: nothing to ask again
    assert (await steps_of(store, thread_id))[-1]["output"] == LEFT.format(name="Lee Park")


async def test_a_hand_back_waits_for_the_message_being_taken_in(store):
    lock = asyncio.Lock()
    desk = make_desk(store)
    desk.lock = lambda _conversation_id: lock  # the conversation's turn lock, held by a customer's turn
    thread_id = await owned_thread(store)
    await desk.take_over(thread_id, "T-1", utcnow(), LEE)
    await lock.acquire()
    handing_back = asyncio.create_task(desk.hand_back(thread_id, LEE))
    await asyncio.sleep(0.05)
    assert not handing_back.done() and await desk.holder(thread_id) is not None
    waiting = Entry(str(uuid.uuid4()), "customer", "Maya", "One more thing: is it gift-wrapped?")
    await StoreHistory(store).record(thread_id, [waiting])
    lock.release()  # the turn stored its message and ends
    await asyncio.wait_for(handing_back, 5)
    assert (await steps_of(store, thread_id))[-1]["output"].endswith(UNANSWERED)


async def test_taking_over_and_handing_back_go_ahead_with_the_session_store_down(store):
    from agent.sessions.errors import SessionUnavailable

    def unreachable(_conversation_id: str):
        raise SessionUnavailable("redis is down")

    desk = make_desk(store)
    desk.lock = unreachable
    thread_id = await owned_thread(store)
    await desk.take_over(thread_id, "T-1", utcnow(), LEE)
    assert (await desk.holder(thread_id)).staff == LEE
    await desk.hand_back(thread_id, LEE)
    assert await desk.holder(thread_id) is None
    assert (await steps_of(store, thread_id))[-1]["output"].startswith(LEFT.format(name="Lee Park"))


async def test_human_messages_are_checked_like_customers(store):
    desk = make_desk(store, limiter=MemoryRateLimiter(60, 2), max_chars=50)
    thread_id = await owned_thread(store)
    await desk.take_over(thread_id, "T-1", utcnow(), LEE)
    with pytest.raises(HumanMessageRefused) as long:
        await desk.reply(thread_id, LEE, "x" * 51)
    assert long.value.status == 400 and "too long" in long.value.user_message
    with pytest.raises(HumanMessageRefused):
        await desk.reply(thread_id, LEE, "   ")
    await desk.reply(thread_id, LEE, "one")
    await desk.reply(thread_id, LEE, "two")
    with pytest.raises(HumanMessageRefused) as fast:
        await desk.reply(thread_id, LEE, "three")
    assert fast.value.status == 429
    assert "three" not in [s["output"] for s in await steps_of(store, thread_id)]


async def test_solving_the_ticket_ends_the_human_session(store):
    desk = make_desk(store)
    thread_id = await owned_thread(store)
    await desk.solved(thread_id)  # nobody held it: nothing said
    await desk.take_over(thread_id, "T-1", utcnow(), LEE)
    await desk.solved(thread_id)
    assert await desk.holder(thread_id) is None
    assert (await steps_of(store, thread_id))[-1]["output"] == CLOSED.format(name="Lee Park")


# ---- the chat service while a human holds the conversation ----------------------------------------------------

async def test_the_assistant_is_quiet_while_a_human_holds_and_answers_after(shop, shipped_kb, settings, router, store):  # noqa: F811
    relay = MemoryRelay()
    service, sessions = make_service(shop, shipped_kb, settings, router, history=StoreHistory(store))
    service.desk = desk = make_desk(store, relay)
    desk.catch_up = service.conversations.catch_up
    service.conversations.history = StoreHistory(store).conversation_messages
    service.recorder = FactsRecorder(store, None)  # the conversation's facts, where the hand-over times go
    thread_id = await owned_thread(store)
    who = Customer(thread_id, "maya@example.com", "Maya")
    await collect(service.send(who, "How long does standard shipping take?"))
    escalated = utcnow() - timedelta(seconds=90)
    await desk.take_over(thread_id, "T-1", escalated, LEE)
    async with relay.listen(staff_channel(thread_id)) as staff:
        events = await collect(service.send(who, "Thanks Lee, it's order #W1001001"))
        forwarded = await asyncio.wait_for(anext(staff), 1)
    assert (forwarded.kind, forwarded.text) == ("customer", "Thanks Lee, it's order #W1001001")
    assert not [e for e in events if isinstance(e, TextDelta)] and events[-1] == TurnDone("", "human")
    assert (await steps_of(store, thread_id))[-1]["output"] == "Thanks Lee, it's order #W1001001"
    await desk.reply(thread_id, LEE, "Found it.")
    async with store.engine.connect() as conn:
        facts = (await conn.execute(select(models.ConversationFacts.__table__).where(
            models.ConversationFacts.thread_id == thread_id))).one()._mapping  # fmt: skip
    assert 90_000 <= facts["human_pickup_ms"] <= facts["human_first_reply_ms"] < 120_000
    await desk.hand_back(thread_id, LEE)
    caught_up = [m["content"] for m in (await sessions.get(thread_id))["messages"]]
    assert caught_up[-1] == LEFT.format(name="Lee Park") and "Found it." in caught_up
    answer = await collect(service.send(who, "How long does standard shipping take?"))
    assert "business days" in text_of(answer)
    remembered = [m["content"] for m in (await sessions.get(thread_id))["messages"]]
    assert "Thanks Lee, it's order #W1001001" in remembered and "Found it." in remembered


async def test_a_card_cannot_be_confirmed_while_a_human_holds(shop, shipped_kb, settings, router, store):  # noqa: F811
    service, _ = make_service(shop, shipped_kb, settings, router, history=StoreHistory(store))
    service.desk = desk = make_desk(store)
    thread_id = await owned_thread(store, "dana@example.com")
    who = Customer(thread_id, "dana@example.com", "Dana")
    events = await collect(service.send(who, "Please cancel order #W1001004, I ordered by mistake"))
    cards = [e for e in events if isinstance(e, ConfirmationRequested)]
    assert cards, text_of(events)
    await desk.take_over(thread_id, "T-1", utcnow(), LEE)
    clicked = await collect(service.confirm(who, cards[0].token, approve=True))
    assert [e.text for e in clicked if isinstance(e, Notice)] == [HELD_CARD.format(name="Lee Park")]
    assert clicked[-1].status == "rejected"


# ---- the live page's event stream ------------------------------------------------------------------------------

class Page:
    """The request of a live page that stays open."""

    async def is_disconnected(self) -> bool:
        return False


async def test_the_live_stream_catches_up_follows_and_ends_when_the_instance_stops(store):
    from agent.web.live import LiveParts, _stream

    relay, stopping = MemoryRelay(), asyncio.Event()
    desk = make_desk(store, relay)
    thread_id = await owned_thread(store)
    await desk.take_over(thread_id, "T-1", utcnow(), LEE)  # said before the page opened: sent as the catch-up
    live = LiveParts(desk, relay, None, heartbeat_s=0.05, stopping=stopping.is_set)  # type: ignore[arg-type]
    stream = _stream(Page(), live, store, thread_id)
    first = await asyncio.wait_for(anext(stream), 5)
    assert b'"kind":"human"' in first and JOINED.format(name="Lee Park", store="Larkspur Goods").encode() in first
    await desk.reply(thread_id, LEE, "Live now.")
    frames = [await asyncio.wait_for(anext(stream), 5) for _ in range(2)]  # a keep-alive may come first
    assert any(b"Live now." in frame for frame in frames), frames
    stopping.set()
    rest = await asyncio.wait_for(collect(stream), 5)  # ends at the next tick instead of holding the shutdown
    assert all(frame.startswith(b":") or b"Live now." in frame for frame in rest)
