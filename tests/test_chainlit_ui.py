"""The Chainlit adapter without a browser: a mocked emitter records what the page would receive."""

from __future__ import annotations

from unittest.mock import AsyncMock, MagicMock

import pytest

from agent.datalayer.errors import DataLayerError
from agent.models.scripted import ScriptedModel
from agent.runner.orchestrator import SupportAgent
from agent.sessions.base import Decision
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


def services(replies, limiter=None):
    settings = Settings()
    store = MemorySessionStore(60, 1)
    repo = ConversationRepository(store, ExtractiveSummarizer(4), max_messages=10, max_tokens=1000)
    agent = SupportAgent(ScriptedModel(replies), ToolRegistry([], settings.tools), None, settings)
    svc = MagicMock()
    svc.agent, svc.conversations, svc.uploads = agent, repo, MagicMock()
    svc.limiter = limiter or MemoryRateLimiter(60, 5)
    return svc, store


async def test_message_and_reply_are_persisted_before_the_turn_ends(page):
    import chainlit as cl

    from agent.web.chainlit_ui import handle_message

    svc, store = services(["You can return items within 30 days [1]."])
    written = []

    async def persist(step):
        written.append((step["type"], step["output"]))

    await handle_message(cl.Message(content="return window?", type="user_message"), svc, "t1", "dana", persist)
    assert written == [("user_message", "return window?"),
                       ("assistant_message", "You can return items within 30 days [1].")]
    state = await store.get("t1")
    assert [m["role"] for m in state["messages"]] == ["user", "assistant"]


async def test_a_failed_write_is_shown_not_swallowed(page):
    import chainlit as cl

    from agent.web.chainlit_ui import handle_message

    svc, store = services(["An answer."])

    async def broken(step):
        raise DataLayerError("database is down (thread t1)")

    await handle_message(cl.Message(content="hello there", type="user_message"), svc, "t1", "dana", broken)
    assert DataLayerError.user_message in sent_texts(page)
    assert (await store.get("t1"))["messages"][-1]["content"] == "An answer.", "memory kept the turn"


async def test_rate_limited_messages_get_a_polite_wait(page):
    import chainlit as cl

    from agent.web.chainlit_ui import handle_message

    limiter = MagicMock()
    limiter.hit = AsyncMock(return_value=Decision(False, 12.2))
    svc, store = services([], limiter)
    await handle_message(cl.Message(content="again", type="user_message"), svc, "t1", "dana")
    assert any("wait 13 seconds" in text for text in sent_texts(page))
    assert await store.get("t1") is None, "a refused message never reaches the agent"


async def test_confirmation_card_and_click(page):
    """A write shows a card with Confirm / Cancel; the click hides both buttons and applies it once."""
    import chainlit as cl

    from agent.web.chainlit_ui import CONFIRM_ACTION, handle_action, handle_message
    from tests.test_confirmations import Backend, cancel_script

    backend = Backend()
    svc, store = services([])
    svc.agent = SupportAgent(cancel_script(), ToolRegistry(backend.tools(), Settings().tools), None, Settings())
    await handle_message(cl.Message(content="cancel #W0000001", type="user_message"), svc, "t1", None)

    actions = [call.args[1] for call in page.emit.call_args_list if call.args[0] == "action"]
    assert [(a["name"], a["label"]) for a in actions] == [(CONFIRM_ACTION, "Confirm"), ("decline_action", "Cancel")]
    assert any("Cancel order #W0000001." in text and "Refund $10.00" in text for text in sent_texts(page))
    token = actions[0]["payload"]["token"]
    assert token in (await store.get("t1"))["pending"]

    written = []

    async def persist(step):
        written.append(step["output"])

    click = cl.Action(name=CONFIRM_ACTION, payload={"token": token}, forId=actions[0]["forId"])
    await handle_action(click, svc, "t1", None, persist)
    await handle_action(click, svc, "t1", None, persist)  # a double click
    removed = [call.args[1]["id"] for call in page.emit.call_args_list if call.args[0] == "remove_action"]
    assert {f"{token}-yes", f"{token}-no"} <= set(removed)
    assert backend.cancelled == ["#W0000001"]
    assert written == ["Order #W0000001 is cancelled.", "Order #W0000001 is cancelled."]
    assert (await store.get("t1"))["pending"] == {}


async def test_a_newer_card_hides_the_buttons_of_the_one_it_replaces(page):
    import chainlit as cl

    from agent.web.chainlit_ui import handle_message
    from tests.test_confirmations import Backend, cancel_twice_script

    svc, _store = services([])
    svc.agent = SupportAgent(cancel_twice_script(), ToolRegistry(Backend().tools(), Settings().tools), None, Settings())
    await handle_message(cl.Message(content="cancel #W0000001", type="user_message"), svc, "t1", None)
    [first, _] = [c.args[1] for c in page.emit.call_args_list if c.args[0] == "action"]
    assert not [c for c in page.emit.call_args_list if c.args[0] == "remove_action"]

    await handle_message(cl.Message(content="do it again", type="user_message"), svc, "t1", None)
    removed = {c.args[1]["id"] for c in page.emit.call_args_list if c.args[0] == "remove_action"}
    token = first["payload"]["token"]
    assert removed == {f"{token}-yes", f"{token}-no"}
    shown = [c.args[1]["id"] for c in page.emit.call_args_list if c.args[0] == "action"]
    assert len(shown) == 4 and not removed & set(shown[2:]), "the new card keeps its own buttons"


async def test_quick_replies_become_buttons_and_a_click_answers_it(page):
    import chainlit as cl

    from agent.web.chainlit_ui import CHOICE_ACTION, handle_choice, handle_message
    from agent.models.messages import ModelResponse

    svc, store = services([
        ModelResponse(text="Which order?", choices=("#W1001001", "#W1001003")),
        "Order #W1001003 is pending.",
    ])
    await handle_message(cl.Message(content="where is my order", type="user_message"), svc, "t1", None)
    buttons = [call.args[1] for call in page.emit.call_args_list if call.args[0] == "action"]
    assert [(b["name"], b["label"]) for b in buttons] == [(CHOICE_ACTION, "#W1001001"), (CHOICE_ACTION, "#W1001003")]

    click = cl.Action(name=CHOICE_ACTION, payload=buttons[1]["payload"], forId=buttons[1]["forId"])
    await handle_choice(click, svc, "t1", None)
    removed = {call.args[1]["id"] for call in page.emit.call_args_list if call.args[0] == "remove_action"}
    assert removed == {b["id"] for b in buttons}
    state = await store.get("t1")
    assert [m["content"] for m in state["messages"]][-2:] == ["#W1001003", "Order #W1001003 is pending."]
