"""The Chainlit adapter without a browser: a mocked emitter records what the page would receive.

The adapter only maps Chainlit's messages and clicks onto the chat service and renders its events;
the service's own behaviour is tested without Chainlit in tests/test_chat_service.py.
"""

from __future__ import annotations

from unittest.mock import AsyncMock, MagicMock

import pytest

from agent.chat.service import ChatService
from agent.models.scripted import ScriptedModel
from agent.runner.orchestrator import SupportAgent
from agent.sessions.conversations import ConversationRepository
from agent.sessions.memory import MemoryRateLimiter, MemorySessionStore
from agent.runner.memory import ExtractiveSummarizer
from agent.settings import Settings
from tools.registry import ToolRegistry


@pytest.fixture
async def page():
    """A Chainlit context whose emitter records every step sent to the page."""
    from chainlit.context import ChainlitContext, context_var
    from chainlit.session import HTTPSession

    session = HTTPSession(id="s1", thread_id="t1", client_type="webapp")
    emitter = MagicMock()
    for name in ("send_step", "update_step", "stream_start", "send_token", "send_element", "emit"):
        setattr(emitter, name, AsyncMock())
    token = context_var.set(ChainlitContext(session, emitter=emitter))
    yield emitter
    context_var.reset(token)


def sent_texts(emitter) -> list[str]:
    steps = [call.args[0] for call in emitter.send_step.call_args_list]
    return [s.get("output", "") for s in steps]


def emitted(emitter, name: str) -> list[dict]:
    return [call.args[1] for call in emitter.emit.call_args_list if call.args[0] == name]


def chat(model, registry=None):
    settings = Settings()
    store = MemorySessionStore(60, 1)
    repo = ConversationRepository(store, ExtractiveSummarizer(4), max_messages=10, max_tokens=1000)
    agent = SupportAgent(model, registry or ToolRegistry([], settings.tools), None, settings)
    return ChatService(agent, repo, MemoryRateLimiter(60, 5)), store


async def test_a_message_is_answered_on_the_page_under_the_services_reply_id(page):
    import chainlit as cl

    from agent.web.handlers import handle_message

    service, store = chat(ScriptedModel(["You can return items within 30 days."]))
    await handle_message(cl.Message(content="return window?", type="user_message"), service, "t1", None)
    [start] = [call.args[0] for call in page.stream_start.call_args_list]
    assert start["output"].startswith("You")
    final = [call.args[0] for call in page.send_step.call_args_list if call.args[0]["id"] == start["id"]]
    assert final[-1]["output"] == "You can return items within 30 days."
    state = await store.get("t1")
    assert [m["role"] for m in state["messages"]] == ["user", "assistant"]


async def test_tool_steps_come_before_the_reply_they_fed(page):
    """Shown in the order things happened: the reply is created after the tool step, not before it."""
    import chainlit as cl

    from agent.models.scripted import call_tools, tool_call
    from agent.web.handlers import handle_message
    from tests.test_orchestrator import lookup_order

    model = ScriptedModel([call_tools(tool_call("lookup_order", {"order_id": "#W1234567"})), "It was delivered."])
    service, _ = chat(model, ToolRegistry([lookup_order], Settings().tools))
    await handle_message(cl.Message(content="where is #W1234567?", type="user_message"), service, "t1", None)
    order = [(name, args[0]["type"]) for name, args, _ in page.method_calls if name in ("send_step", "stream_start")]
    assert order[:2] == [("send_step", "tool"), ("stream_start", "assistant_message")]


async def test_the_service_stores_the_message_with_chainlits_own_time(page):
    """Chainlit stores the message itself and nests the turn's run step under it: the service's copy carries
    Chainlit's time, to the microsecond, so a reloaded thread keeps the run (and the reply) under the message."""
    import chainlit as cl

    from agent.chat.history import Entry
    from agent.datalayer.db import format_ts
    from agent.web.handlers import handle_message

    service, _ = chat(ScriptedModel(["An answer."]))
    recorded: list[Entry] = []
    service.history = MagicMock()
    service.history.record = AsyncMock(side_effect=lambda conversation_id, entries: recorded.extend(entries))
    from chainlit.utils import utc_now

    message = cl.Message(content="hello there", type="user_message")
    message.created_at = utc_now()  # as Chainlit's emitter dates a message it receives
    await handle_message(message, service, "t1", None)
    assert [e.speaker for e in recorded] == ["customer", "assistant"]
    assert format_ts(recorded[0].created_at) == message.created_at
    assert recorded[1].created_at > recorded[0].created_at


async def test_a_failed_write_is_shown_not_swallowed(page):
    import chainlit as cl

    from agent.datalayer.errors import DataLayerError
    from agent.web.handlers import handle_message

    service, store = chat(ScriptedModel(["An answer."]))
    service.history = MagicMock()
    service.history.record = AsyncMock(side_effect=DataLayerError("database is down (thread t1)"))
    await handle_message(cl.Message(content="hello there", type="user_message"), service, "t1", None)
    assert DataLayerError.user_message in sent_texts(page)
    assert (await store.get("t1"))["messages"][-1]["content"] == "An answer.", "memory kept the turn"


async def test_confirmation_card_and_click(page):
    """A write shows a card with Confirm / Cancel; the click hides both buttons and applies it once."""
    import chainlit as cl

    from agent.web.handlers import handle_action, handle_message
    from agent.web.render import CONFIRM_ACTION
    from tests.test_confirmations import Backend, cancel_script

    backend = Backend()
    service, store = chat(cancel_script(), ToolRegistry(backend.tools(), Settings().tools))
    await handle_message(cl.Message(content="cancel #W0000001", type="user_message"), service, "t1", None)

    actions = emitted(page, "action")
    assert [(a["name"], a["label"]) for a in actions] == [(CONFIRM_ACTION, "Confirm"), ("decline_action", "Cancel")]
    assert any("Cancel order #W0000001." in text and "Refund $10.00" in text for text in sent_texts(page))
    token = actions[0]["payload"]["token"]
    assert token in (await store.get("t1"))["pending"]

    click = cl.Action(name=CONFIRM_ACTION, payload={"token": token}, forId=actions[0]["forId"])
    await handle_action(click, service, "t1", None)
    await handle_action(click, service, "t1", None)  # a double click
    removed = [a["id"] for a in emitted(page, "remove_action")]
    assert {f"{token}-yes", f"{token}-no"} <= set(removed)
    assert backend.cancelled == ["#W0000001"]
    answers = [call.args[0]["output"] for call in page.stream_start.call_args_list]
    assert answers[-2:] == ["Order #W0000001 is cancelled.", "Order #W0000001 is cancelled."]
    assert (await store.get("t1"))["pending"] == {}


async def test_a_newer_card_hides_the_buttons_of_the_one_it_replaces(page):
    import chainlit as cl

    from agent.web.handlers import handle_message
    from tests.test_confirmations import Backend, cancel_twice_script

    service, _store = chat(cancel_twice_script(), ToolRegistry(Backend().tools(), Settings().tools))
    await handle_message(cl.Message(content="cancel #W0000001", type="user_message"), service, "t1", None)
    [first, _] = emitted(page, "action")
    assert not emitted(page, "remove_action")

    await handle_message(cl.Message(content="do it again", type="user_message"), service, "t1", None)
    removed = {a["id"] for a in emitted(page, "remove_action")}
    token = first["payload"]["token"]
    assert removed == {f"{token}-yes", f"{token}-no"}
    shown = [a["id"] for a in emitted(page, "action")]
    assert len(shown) == 4 and not removed & set(shown[2:]), "the new card keeps its own buttons"


async def test_quick_replies_become_buttons_and_a_click_answers_it(page):
    import chainlit as cl

    from agent.models.messages import ModelResponse
    from agent.web.handlers import handle_choice, handle_message
    from agent.web.render import CHOICE_ACTION

    service, store = chat(ScriptedModel([
        ModelResponse(text="Which order?", choices=("#W1001001", "#W1001003")),
        "Order #W1001003 is pending.",
    ]))
    await handle_message(cl.Message(content="where is my order", type="user_message"), service, "t1", None)
    buttons = emitted(page, "action")
    assert [(b["name"], b["label"]) for b in buttons] == [(CHOICE_ACTION, "#W1001001"), (CHOICE_ACTION, "#W1001003")]

    click = cl.Action(name=CHOICE_ACTION, payload=buttons[1]["payload"], forId=buttons[1]["forId"])
    await handle_choice(click, service, "t1", None)
    removed = {a["id"] for a in emitted(page, "remove_action")}
    assert removed == {b["id"] for b in buttons}
    state = await store.get("t1")
    assert [m["content"] for m in state["messages"]][-2:] == ["#W1001003", "Order #W1001003 is pending."]


async def test_a_crafted_click_cannot_drive_the_server(page):
    """The number of buttons to remove comes from what the page was shown, never from the click's payload."""
    import chainlit as cl

    from agent.models.messages import ModelResponse
    from agent.web.handlers import handle_choice, handle_message
    from agent.web.render import CHOICE_ACTION

    service, store = chat(ScriptedModel([ModelResponse(text="Which order?", choices=("#W1001001", "#W1001003"))]))
    await handle_message(cl.Message(content="where is my order", type="user_message"), service, "t1", None)
    button = emitted(page, "action")[0]
    forged = cl.Action(name=CHOICE_ACTION, payload={"value": "#W1001001", "count": 100_000}, forId=button["forId"])
    await handle_choice(forged, service, "t1", None)
    assert len(emitted(page, "remove_action")) == 2, "only the two buttons shown"
    page.emit.reset_mock()
    await handle_choice(forged, service, "t1", None)  # the same click again: nothing was offered any more
    stranger = cl.Action(name=CHOICE_ACTION, payload={"value": "anything"}, forId="not-a-message")
    await handle_choice(stranger, service, "t1", None)
    assert not emitted(page, "remove_action") and len((await store.get("t1"))["messages"]) == 3


async def test_streamed_words_are_sent_together_at_most_every_interval(page):
    """The first words go out at once; words arriving within the interval wait and go with the final send."""
    import chainlit as cl

    from agent.web.handlers import handle_message

    answer = "You can return most items within thirty days of delivery for a full refund."
    service, _ = chat(ScriptedModel([answer]))
    await handle_message(cl.Message(content="return window?", type="user_message"), service, "t1", None,
                         stream_interval_s=60.0)
    [start] = [call.args[0] for call in page.stream_start.call_args_list]
    assert start["output"] == "You"
    assert page.send_token.call_count == 0, "the rest waited for the interval, then for the final send"
    [final] = [call.args[0] for call in page.send_step.call_args_list if call.args[0]["id"] == start["id"]]
    assert final["output"] == answer


async def test_held_words_go_when_their_interval_ends_not_with_the_turns_end(page):
    """Words held back are sent once their interval is over, even when no more words come before the turn's end
    (its writes may take a while under load); the final send still carries the whole reply."""
    import asyncio

    from agent.runner.events import TextDelta
    from agent.web.render import TurnView

    view = TurnView("r1", stream_interval_s=0.05)
    for word in ("Returns", " are", " free."):
        await view.show(TextDelta(word))
    assert page.stream_start.call_args.args[0]["output"] == "Returns" and page.send_token.call_count == 0
    for _ in range(100):  # nothing else happens in the turn meanwhile; the timer sends them
        if page.send_token.call_count:
            break
        await asyncio.sleep(0.02)
    assert [call.kwargs["token"] for call in page.send_token.call_args_list] == [" are free."]
    await view.close()
    [final] = [call.args[0] for call in page.send_step.call_args_list if call.args[0]["id"] == "r1"]
    assert final["output"] == "Returns are free." and page.send_token.call_count == 1


async def test_without_an_interval_every_chunk_is_sent_as_it_comes(page):
    import chainlit as cl

    from agent.web.handlers import handle_message

    service, _ = chat(ScriptedModel(["One two three four."]))
    await handle_message(cl.Message(content="count", type="user_message"), service, "t1", None)
    assert page.stream_start.call_count == 1
    assert [call.kwargs["token"] for call in page.send_token.call_args_list] == [" two", " three", " four."]


async def test_held_words_are_shown_before_the_tool_step_that_follows_them(page):
    import chainlit as cl

    from agent.models.scripted import call_tools, tool_call
    from agent.web.handlers import handle_message
    from tests.test_orchestrator import lookup_order

    model = ScriptedModel([call_tools(tool_call("lookup_order", {"order_id": "#W1234567"}), text="Let me look."),
                           "It was delivered."])
    service, _ = chat(model, ToolRegistry([lookup_order], Settings().tools))
    await handle_message(cl.Message(content="where is #W1234567?", type="user_message"), service, "t1", None,
                         stream_interval_s=60.0)
    order = [(name, args, kwargs) for name, args, kwargs in page.method_calls
             if name in ("send_step", "stream_start", "send_token")]
    first_tool = next(i for i, (name, args, _) in enumerate(order) if name == "send_step" and args[0]["type"] == "tool")
    streamed = "".join([args[0]["output"] for name, args, _ in order[:first_tool] if name == "stream_start"]
                       + [kwargs["token"] for name, _, kwargs in order[:first_tool] if name == "send_token"])
    assert streamed == "Let me look."
