"""Conversation memory: token-budgeted window, rolling summary, state round trip, rebuild after expiry."""

from __future__ import annotations

import asyncio

from agent.runner.conversation import Conversation, estimate_tokens
from agent.models.messages import Message
from agent.models.scripted import FunctionModel, ScriptedModel
from agent.runner.memory import ExtractiveSummarizer, LLMSummarizer
from agent.sessions.conversations import ConversationRepository
from agent.sessions.memory import MemorySessionStore


def chat(n: int) -> Conversation:
    conversation = Conversation("c1", user_id="dana")
    for i in range(n):
        conversation.add(Message.user(f"Question {i} about order #W100000{i}. More detail here."))
        conversation.add(Message.assistant(f"Answer {i} with the facts. And a second sentence."))
    return conversation


def test_window_respects_message_and_token_budgets():
    conversation = chat(10)
    assert len(conversation.window(4)) == 4
    per_message = estimate_tokens(conversation.messages[-1].content)
    assert len(conversation.window(20, max_tokens=per_message * 3)) <= 3
    long = Conversation("c2", messages=[Message.user("word " * 5000)])
    assert len(long.window(20, max_tokens=10)) == 1, "the newest message is always kept"


def test_state_round_trip():
    conversation = chat(2)
    conversation.summary = "- Customer: earlier"
    conversation.uploads = ["invoice.pdf"]
    again = Conversation.from_state(conversation.to_state())
    assert again == conversation


async def test_old_messages_fold_into_an_extractive_summary():
    store = MemorySessionStore(ttl_s=60, lock_wait_s=1)
    repo = ConversationRepository(store, ExtractiveSummarizer(max_sentences=6), max_messages=4, max_tokens=1000)
    async with repo.open("c1", "dana") as conversation:
        for message in chat(5).messages:
            conversation.add(message)
    state = await store.get("c1")
    assert len(state["messages"]) == 4
    assert state["messages"][-1]["content"].startswith("Answer 4")
    summary = state["summary"].splitlines()
    assert len(summary) == 6 and summary[-1] == "- Assistant: Answer 2 with the facts."
    assert "- Customer: Question 2 about order #W1000002." in summary


async def test_the_model_writes_the_summary_when_configured_and_failures_fall_back():
    model = ScriptedModel(["- Customer Dana asked about #W1000001; refund promised."])
    summarizer = LLMSummarizer(model, ExtractiveSummarizer(3))
    assert await summarizer.summarize("", chat(2).messages) == "- Customer Dana asked about #W1000001; refund promised."
    assert "user: Question 0" in model.requests[0].messages[1].content

    broken = LLMSummarizer(FunctionModel(lambda request: RuntimeError("model down")), ExtractiveSummarizer(3))
    assert (await broken.summarize("", chat(1).messages)).startswith("- Customer: Question 0")


async def test_expired_state_is_rebuilt_from_the_stored_history():
    store = MemorySessionStore(ttl_s=60, lock_wait_s=1)
    stored = [("user", "Where is order #W1234567?"), ("assistant", "It shipped yesterday."),
              ("user", "And when will it arrive?"), ("assistant", "Within 5-7 business days.")]
    loaded = []

    async def history(conversation_id: str):
        loaded.append(conversation_id)
        return stored

    repo = ConversationRepository(store, ExtractiveSummarizer(4), max_messages=2, max_tokens=1000, history=history)
    async with repo.open("c-expired") as conversation:
        assert [m.content for m in conversation.messages] == ["And when will it arrive?", "Within 5-7 business days."]
        assert "#W1234567" in conversation.summary, "older turns survive in the summary"
    assert loaded == ["c-expired"]
    async with repo.open("c-expired") as again:  # state exists now: no second rebuild
        assert again.messages[-1].content == "Within 5-7 business days."
    assert loaded == ["c-expired"]


async def test_two_messages_to_one_conversation_are_processed_one_after_the_other():
    store = MemorySessionStore(ttl_s=60, lock_wait_s=5)
    repo = ConversationRepository(store, ExtractiveSummarizer(4), max_messages=20, max_tokens=5000)
    order = []

    async def turn(text: str) -> None:
        async with repo.open("c-race") as conversation:
            order.append(f"start {text}")
            conversation.add(Message.user(text))
            await asyncio.sleep(0.05)
            order.append(f"end {text}")

    await asyncio.gather(turn("first"), turn("second"))
    assert order in (["start first", "end first", "start second", "end second"],
                     ["start second", "end second", "start first", "end first"])
    state = await store.get("c-race")
    assert sorted(m["content"] for m in state["messages"]) == ["first", "second"], "no update lost"


async def test_a_store_outage_still_answers_from_the_stored_history():
    from agent.sessions.errors import SessionUnavailable

    class DownStore(MemorySessionStore):
        def lock(self, session_id):
            raise SessionUnavailable("connection refused")

    async def history(conversation_id: str):
        return [("user", "Where is order #W1234567?"), ("assistant", "It shipped yesterday.")]

    repo = ConversationRepository(DownStore(60, 1), ExtractiveSummarizer(4), max_messages=10, max_tokens=1000,
                                  history=history)
    async with repo.open("c-down") as conversation:
        assert [m.content for m in conversation.messages][-1] == "It shipped yesterday."
        conversation.add(Message.user("thanks"))


async def test_a_rebuild_leaves_out_the_message_being_handled():
    async def history(conversation_id: str):
        return [("user", "Where is order #W1234567?"), ("assistant", "It shipped yesterday."),
                ("user", "And when will it arrive?")]  # already stored by Chainlit, not answered yet

    repo = ConversationRepository(MemorySessionStore(60, 1), ExtractiveSummarizer(4), max_messages=10,
                                  max_tokens=1000, history=history)
    async with repo.open("c-new-message") as conversation:
        assert [m.role for m in conversation.messages] == ["user", "assistant"]


async def test_a_conversation_begun_by_its_channel_needs_no_history_lookup_once():
    """A chat opened here under a new id: its first message does not read the history; later loads and other
    conversations do, and the mark expires."""
    looked_up = []

    async def history(conversation_id: str):
        looked_up.append(conversation_id)
        return []

    store = MemorySessionStore(60, 1)
    repo = ConversationRepository(store, ExtractiveSummarizer(4), max_messages=10, max_tokens=1000, history=history,
                                  new_chats=10, new_chat_ttl_s=0.2)
    repo.begin("c-new")
    repo.begin("c-idle")
    async with repo.open("c-new", "u-1") as conversation:
        assert conversation.messages == [] and conversation.user_id == "u-1"
        conversation.add(Message.user("hello"))
    assert looked_up == []
    await store.delete("c-new")  # its memory expired: the history is read again, the mark was used up
    async with repo.open("c-new"):
        pass
    async with repo.open("c-other"):
        pass
    await asyncio.sleep(0.3)
    async with repo.open("c-idle"):  # opened, then quiet past the mark's time: looked up as any other
        pass
    assert looked_up == ["c-new", "c-other", "c-idle"]

    off = ConversationRepository(MemorySessionStore(60, 1), ExtractiveSummarizer(4), max_messages=10,
                                 max_tokens=1000, history=history)
    off.begin("c-off")
    async with off.open("c-off"):
        pass
    assert looked_up[-1] == "c-off"
