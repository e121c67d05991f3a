"""SupportAgent driven by scripted models: no network, no Chainlit."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated

import pytest
from pydantic import Field

from agent.runner.conversation import Conversation
from agent.errors import ModelError
from agent.runner.events import (
    ErrorEvent,
    Escalation,
    Sources,
    TextDelta,
    ToolCallStarted,
    ToolFinished,
    TurnDone,
)
from agent.models.messages import ModelRequest
from agent.models.scripted import FunctionModel, ScriptedModel, call_tools, tool_call
from agent.models.openai_compat import to_wire
from agent.runner.orchestrator import MAX_STEPS_REPLY, STOPPED_MARK, SupportAgent
from agent.settings import ChatSettings, Settings, ToolSettings
from knowledge.types import Passage
from tools.base import ToolResult, tool
from tools.errors import ToolFailure
from tools.registry import ToolRegistry

PASSAGE = Passage(id="p1", text="Returns are accepted within 30 days of delivery.", source="returns.md",
                  title="Returns", section="Return window", score=0.8)


@tool
def lookup_order(order_id: Annotated[str, Field(pattern=r"^#W\d{7}$")]) -> dict:
    """Look up an order by its number."""
    return {"order_id": order_id, "status": "delivered"}


@tool
def broken_backend(order_id: str) -> dict:
    """A tool whose backend is down."""
    raise RuntimeError("connection reset by peer at 10.0.0.7")


@tool
def find_article(query: str) -> ToolResult:
    """A search tool that returns citable passages."""
    return ToolResult.success(sources=(PASSAGE,))


@tool(hands_over=True)
def hand_over(summary: str) -> ToolResult:
    """Hand the conversation to a human."""
    return ToolResult.success({"ticket": "T-1"}, message=f"A colleague will take over: {summary}")


@tool
def refuse(order_id: str) -> dict:
    """Refuses with a typed failure."""
    raise ToolFailure("not_found", f"No order {order_id} on your account.")


def make_agent(model, settings: Settings | None = None) -> SupportAgent:
    settings = settings or Settings()
    registry = ToolRegistry([lookup_order, broken_backend, find_article, hand_over, refuse],
                            ToolSettings(retry_backoff_s=0, retry_attempts=2))
    return SupportAgent(model, registry, knowledge=None, settings=settings)


async def run(agent: SupportAgent, text: str, conversation: Conversation | None = None) -> list:
    conversation = conversation or Conversation("c-test")
    return [event async for event in agent.run_turn(conversation, text)]


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_text_only_reply_streams_and_is_remembered():
    model = ScriptedModel(["Hello! How can I help you today?"])
    conversation = Conversation("c1")
    events = await run(make_agent(model), "hi", conversation)

    assert len([e for e in events if isinstance(e, TextDelta)]) > 1, "reply should arrive in several chunks"
    assert text_of(events) == "Hello! How can I help you today?"
    assert events[-1] == TurnDone("Hello! How can I help you today?", "completed")
    assert [m.role for m in conversation.messages] == ["user", "assistant"]
    assert model.requests[0].messages[0].role == "system"
    assert "Larkspur Goods" in model.requests[0].messages[0].content


async def test_tool_call_then_answer():
    model = ScriptedModel([
        call_tools(tool_call("lookup_order", {"order_id": "#W1234567"})),
        "Your order #W1234567 was delivered.",
    ])
    events = await run(make_agent(model), "where is order #W1234567?")

    started = [e for e in events if isinstance(e, ToolCallStarted)]
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert [e.name for e in started] == ["lookup_order"]
    assert finished[0].result.ok and finished[0].result.data["status"] == "delivered"
    # Each request is recorded as it was sent: the first one had no tool round yet.
    assert [m.role for m in model.requests[0].messages] == ["system", "user"]
    # The model's second request carries the assistant tool call and the tool's result.
    second = model.requests[1].messages
    assert second[-2].role == "assistant" and second[-2].tool_calls[0].name == "lookup_order"
    assert second[-1].role == "tool" and '"delivered"' in to_wire(second[-1])["content"]
    assert events[-1].status == "completed"
    assert events[-1].reply == "Your order #W1234567 was delivered."


async def test_failing_tool_becomes_a_result_the_model_sees():
    model = ScriptedModel([
        call_tools(tool_call("broken_backend", {"order_id": "#W1"})),
        "Sorry, I can't reach our order system right now.",
    ])
    events = await run(make_agent(model), "status of #W1?")

    result = next(e for e in events if isinstance(e, ToolFinished)).result
    assert not result.ok and result.error == "unavailable"
    assert "10.0.0.7" not in result.message, "internal details must not leak to the customer"
    tool_message = model.requests[1].messages[-1]
    assert tool_message.role == "tool" and '"unavailable"' in to_wire(tool_message)["content"]
    assert events[-1].status == "completed"


async def test_invalid_arguments_and_unknown_tools_are_reported_to_the_model():
    model = ScriptedModel([
        call_tools(tool_call("lookup_order", {"order_id": "12"}), tool_call("launch_rockets", {})),
        "Could you give me your order number? It looks like #W1234567.",
    ])
    events = await run(make_agent(model), "my order 12")

    results = [e.result for e in events if isinstance(e, ToolFinished)]
    assert [r.error for r in results] == ["invalid", "invalid"]
    assert "order_id" in results[0].message
    assert "launch_rockets" in results[1].message
    assert events[-1].status == "completed"


async def test_typed_tool_failure_keeps_its_kind():
    model = ScriptedModel([call_tools(tool_call("refuse", {"order_id": "#W7"})), "I couldn't find it."])
    events = await run(make_agent(model), "order #W7")
    result = next(e for e in events if isinstance(e, ToolFinished)).result
    assert (result.error, result.message) == ("not_found", "No order #W7 on your account.")


async def test_max_steps_limit_ends_the_turn_politely():
    looping = FunctionModel(lambda request: call_tools(tool_call("lookup_order", {"order_id": "#W1234567"})))
    settings = Settings(chat=ChatSettings(max_tool_steps=3))
    conversation = Conversation("c-loop")
    events = await run(make_agent(looping, settings), "loop forever", conversation)

    assert len(looping.requests) == 3
    assert len([e for e in events if isinstance(e, ToolCallStarted)]) == 3
    assert events[-1].status == "max_steps"
    assert MAX_STEPS_REPLY in text_of(events)
    assert conversation.messages[-1].content == MAX_STEPS_REPLY


async def test_model_error_gives_a_clear_message_and_keeps_the_user_message():
    model = ScriptedModel([ModelError("rate_limited", "429 from upstream")])
    conversation = Conversation("c-err")
    events = await run(make_agent(model), "hello?", conversation)

    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert errors and errors[0].kind == "rate_limited"
    assert "busy" in errors[0].message and "429" not in errors[0].message
    assert events[-1].status == "failed"
    assert [m.content for m in conversation.messages] == ["hello?"]


async def test_unexpected_model_crash_never_escapes_the_turn():
    model = FunctionModel(lambda request: (_ for _ in ()).throw(KeyError("choices")))
    events = await run(make_agent(model), "hi")
    assert isinstance(events[-2], ErrorEvent) and events[-2].kind == "internal"
    assert events[-1].status == "failed"


async def test_cancellation_stops_the_stream_and_keeps_the_partial_reply():
    slow = FunctionModel(lambda request: "one two three four five six seven eight nine ten", delay_s=0.05)
    agent = make_agent(slow)
    conversation = Conversation("c-cancel")
    received: list[str] = []
    three_words = asyncio.Event()

    async def consume():
        async for event in agent.run_turn(conversation, "tell me a long story"):
            if isinstance(event, TextDelta):
                received.append(event.text)
                if len(received) == 3:
                    three_words.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(three_words.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert slow.closed_streams == 1, "the model stream must be closed on cancel"
    assert len(received) < 10
    last = conversation.messages[-1]
    assert last.role == "assistant" and last.content.endswith(STOPPED_MARK)
    assert last.content.startswith("".join(received).strip())
    # The next turn works normally after a cancelled one.
    follow_up = ScriptedModel(["Sure."])
    agent.model = follow_up
    events = await run(agent, "ok, short version?", conversation)
    assert events[-1].status == "completed"


async def test_turn_timeout_is_reported():
    slow = FunctionModel(lambda request: "a b c d e f g h", delay_s=0.5)
    settings = Settings(chat=ChatSettings(turn_timeout_s=0.2))
    events = await run(make_agent(slow, settings), "hi there")
    assert any(isinstance(e, ErrorEvent) and e.kind == "timeout" for e in events)
    assert events[-1].status == "failed"


async def test_sources_are_numbered_and_only_cited_ones_reported():
    model = ScriptedModel([
        call_tools(tool_call("find_article", {"query": "return window"})),
        "You have 30 days from delivery [1].",
    ])
    events = await run(make_agent(model), "how long to return?")

    tool_message = model.requests[1].messages[-1]
    assert '"ref": 1' in to_wire(tool_message)["content"] and "30 days" in to_wire(tool_message)["content"]
    sources = [e for e in events if isinstance(e, Sources)]
    assert len(sources) == 1 and sources[0].citations[0].ref == 1
    assert sources[0].citations[0].passage.source == "returns.md"


async def test_uncited_sources_are_not_reported():
    model = ScriptedModel([call_tools(tool_call("find_article", {"query": "x"})), "I don't know."])
    events = await run(make_agent(model), "?")
    assert not any(isinstance(e, Sources) for e in events)


async def test_escalation_tool_emits_an_escalation_event():
    model = ScriptedModel([
        call_tools(tool_call("hand_over", {"summary": "refund dispute"})),
        "I've passed this to a colleague.",
    ])
    events = await run(make_agent(model), "I want a human")
    escalations = [e for e in events if isinstance(e, Escalation)]
    assert escalations == [Escalation(reason="hand_over", summary="A colleague will take over: refund dispute")]


@pytest.mark.parametrize("text", ["", "   ", "x" * 4001])
async def test_empty_or_oversized_messages_are_rejected_without_calling_the_model(text):
    model = ScriptedModel([])
    conversation = Conversation("c-bad")
    events = await run(make_agent(model), text, conversation)
    assert isinstance(events[0], ErrorEvent) and events[0].kind == "invalid_input"
    assert events[-1].status == "rejected"
    assert model.requests == [] and conversation.messages == []


class AsksWhenItNeeds(FunctionModel):
    """Like the offline engine: reads the help centre only for a question, and may ask twice in one call."""

    context_on_demand = True

    def __init__(self) -> None:
        super().__init__(lambda request: "")
        self.seen: list[tuple[Passage, ...]] = []

    async def complete(self, request: ModelRequest):
        from agent.models.messages import ModelResponse

        self.requests.append(request)
        if not request.last_user_text.endswith("?"):
            return ModelResponse("Let me look at your order.")
        self.seen = [await request.passages(), await request.passages()]
        return ModelResponse(f"See our returns policy [{1 + [p.source for p in self.seen[0]].index('returns.md')}].")

    async def stream(self, request: ModelRequest):
        from agent.models.base import stream_text

        async for event in stream_text(await self.complete(request)):
            yield event


async def test_a_model_that_asks_for_passages_gets_them_once_and_only_when_it_asks(shipped_kb, monkeypatch):
    searches: list[str] = []
    search = shipped_kb.asearch

    async def counted(text, *args, **kwargs):
        searches.append(text)
        return await search(text, *args, **kwargs)

    monkeypatch.setattr(shipped_kb, "asearch", counted)
    model = AsksWhenItNeeds()
    settings = Settings()
    agent = SupportAgent(model, ToolRegistry([], settings.tools), shipped_kb, settings)
    conversation = Conversation("c-lazy")

    await run(agent, "where is my order", conversation)
    assert searches == [] and model.requests[-1].context == ()

    events = await run(agent, "How long do I have to return an item?", conversation)
    assert searches == ["How long do I have to return an item?"]  # once, though the model asked twice
    assert model.seen[0] == model.seen[1] and "returns.md" in [p.source for p in model.seen[0]]
    cited = next(e for e in events if isinstance(e, Sources))
    assert [c.passage.source for c in cited.citations] == ["returns.md"]


async def test_memory_window_and_retrieved_context_reach_the_model(shipped_kb):
    seen: list[ModelRequest] = []

    def answer(request: ModelRequest) -> str:
        seen.append(request)
        return "ok"

    settings = Settings()
    settings.sessions.memory_max_messages = 3
    agent = SupportAgent(FunctionModel(answer), ToolRegistry([], settings.tools), shipped_kb, settings)
    conversation = Conversation("c-mem")
    for question in ["first question", "second question", "How long do I have to return an item?"]:
        await run(agent, question, conversation)

    last = seen[-1]
    assert [m.content for m in last.messages[1:]] == ["second question", "ok", "How long do I have to return an item?"]
    assert "returns.md" in [p.source for p in last.context]
    assert re.search(r"\[\d\] Returns › Return Window", last.messages[0].content), "passages are numbered in the prompt"
