"""Render a turn's events with Chainlit: the thin adapter between `SupportAgent` and the page."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import chainlit as cl
from chainlit.utils import utc_now

from agent.runner.conversation import Conversation
from agent.errors import AgentRuntimeError
from agent.factory import Services
from agent.runner.events import (
    AgentEvent,
    Choices,
    ConfirmationRequested,
    ErrorEvent,
    Escalation,
    Sources,
    TextDelta,
    ToolCallStarted,
    ToolFinished,
)

from knowledge.pipeline import FileResult
from knowledge.uploads import UploadLibrary

log = logging.getLogger(__name__)
CONFIRM_ACTION = "confirm_action"
DECLINE_ACTION = "decline_action"
CHOICE_ACTION = "choice_action"


def source_elements(event: Sources) -> tuple[list[cl.Text], str]:
    """Side elements for the passages, and the line naming them; Chainlit links a name to its element."""
    elements = [
        cl.Text(name=f"[{c.ref}] {c.passage.citation}", content=c.passage.text, display="side")
        for c in event.citations
    ]
    return elements, "\n\n**Sources:** " + " · ".join(e.name for e in elements)


def _tool_output(event: ToolFinished) -> str:
    result = event.result
    if not result.ok:
        return f"{result.error}: {result.message}"
    if result.sources:
        return "\n".join(f"- {p.citation} (score {p.score:.2f})" for p in result.sources)
    return json.dumps(result.data, indent=2, default=str, ensure_ascii=False) if result.data is not None else result.message


async def render_turn(events: AsyncIterator[AgentEvent]) -> cl.Message:
    """Stream a turn into one assistant message, with a collapsible step per tool call."""
    reply = cl.Message(content="")
    steps: dict[str, cl.Step] = {}
    async with aclosing(events) as stream:  # closing on cancel lets the agent record the partial reply
        async for event in stream:
            if isinstance(event, TextDelta):
                await reply.stream_token(event.text)
            elif isinstance(event, ToolCallStarted):
                step = cl.Step(name=event.name, type="tool", show_input="json")
                step.input = event.arguments
                steps[event.call_id] = step
                await step.send()
            elif isinstance(event, ToolFinished):
                step = steps.pop(event.call_id)
                step.output = _tool_output(event)
                # A previewed write waiting for the customer's click is not an error.
                step.is_error = not event.result.ok and event.result.error != "needs_confirmation"
                step.end = utc_now()
                await step.update()
            elif isinstance(event, Sources):
                reply.elements, line = source_elements(event)
                reply.content += line
            elif isinstance(event, Choices):
                reply.actions = choice_buttons(reply.id, event.options)
            elif isinstance(event, ConfirmationRequested):
                for token in event.replaces:  # a replaced card could only answer "replaced": hide its buttons
                    await remove_card_buttons(token)
                await confirmation_card(event).send()
            elif isinstance(event, Escalation):
                await cl.Message(content=event.summary, author="Support team").send()
            elif isinstance(event, ErrorEvent):
                await cl.ErrorMessage(content=event.message).send()
    if reply.content:
        await reply.send()
    return reply


def confirmation_card(event: ConfirmationRequested) -> cl.Message:
    """The exact action and its effect, with Confirm / Cancel bound to the token (ids let us remove both)."""
    lines = "\n".join(f"- {line}" for line in event.summary)
    payload = {"token": event.token}
    actions = [
        cl.Action(name=CONFIRM_ACTION, payload=payload, label="Confirm", icon="check", id=f"{event.token}-yes"),
        cl.Action(name=DECLINE_ACTION, payload=payload, label="Cancel", icon="x", id=f"{event.token}-no"),
    ]
    return cl.Message(content=f"**Please confirm this change:**\n{lines}", actions=actions)


async def remove_card_buttons(token: str, for_id: str = "") -> None:
    for suffix, name in (("yes", CONFIRM_ACTION), ("no", DECLINE_ACTION)):
        await cl.Action(name=name, payload={}, id=f"{token}-{suffix}", forId=for_id).remove()


def choice_buttons(message_id: str, options: tuple[str, ...]) -> list[cl.Action]:
    """One button per quick reply; ids derive from the message so a click can remove them all."""
    return [
        cl.Action(name=CHOICE_ACTION, payload={"value": option, "count": len(options)}, label=option,
                  id=f"{message_id}-choice-{i}")
        for i, option in enumerate(options)
    ]


Persist = Callable[[dict[str, Any]], Awaitable[None]]


async def handle_message(message: cl.Message, services: Services, conversation_id: str, user_id: str | None,
                         persist: Persist | None = None) -> None:
    """One customer message: rate limit, then the conversation under its lock, files, then the turn.

    With `persist`, the message and the reply are written (and awaited) before the turn ends:
    Chainlit's own writes run in the background, where a failure would go unnoticed.
    """
    decision = await services.limiter.hit(user_id or conversation_id)
    if not decision.allowed:
        wait = max(1, math.ceil(decision.retry_after_s))
        await cl.Message(content=f"You're sending messages faster than I can answer. Please wait {wait} "
                                 "seconds, then send your message again.").send()
        return
    try:
        async with services.conversations.open(conversation_id, user_id) as conversation:
            await receive_files(message, conversation, services.uploads)
            if message.content.strip():
                reply = await render_turn(services.agent.run_turn(conversation, message.content))
                if persist:
                    for step in (message, reply):
                        if step.content:
                            await persist(step.to_dict())
    except AgentRuntimeError as exc:  # lock timeout, write conflicts: say so, never a stack trace
        log.warning("message in conversation %s not processed: %s", conversation_id, exc)
        await cl.ErrorMessage(content=exc.user_message).send()


async def handle_action(action: cl.Action, services: Services, conversation_id: str, user_id: str | None,
                        persist: Persist | None = None) -> None:
    """A Confirm or Cancel click: hide the card's buttons, then resolve its token under the conversation's lock."""
    token = str(action.payload.get("token", ""))
    await remove_card_buttons(token, action.forId)
    try:
        async with services.conversations.open(conversation_id, user_id) as conversation:
            events = services.agent.resolve_action(conversation, token, approve=action.name == CONFIRM_ACTION)
            reply = await render_turn(events)
            if persist and reply.content:
                await persist(reply.to_dict())
    except AgentRuntimeError as exc:
        log.warning("action in conversation %s not processed: %s", conversation_id, exc)
        await cl.ErrorMessage(content=exc.user_message).send()


async def handle_choice(action: cl.Action, services: Services, conversation_id: str, user: cl.User | None,
                        persist: Persist | None = None) -> None:
    """A quick-reply click: remove the buttons, show the choice as the customer's message, and answer it."""
    count = int(action.payload.get("count", 0))
    for i in range(count):
        await cl.Action(name=CHOICE_ACTION, payload={}, id=f"{action.forId}-choice-{i}", forId=action.forId).remove()
    text = str(action.payload.get("value", ""))
    message = cl.Message(content=text, type="user_message", author=user.identifier if user else "User")
    await message.send()
    await handle_message(message, services, conversation_id, user.identifier if user else None, persist)


async def receive_files(message: cl.Message, conversation: Conversation, library: UploadLibrary) -> None:
    """Index the files attached to a message into this conversation's own collection, and say what happened."""
    files = [e for e in message.elements or [] if getattr(e, "path", None)]
    if not files:
        return
    notes = []
    if warning := library.too_many(len(files)):
        notes.append(warning)
        files = files[: library.limits.max_files]
    for file in files:
        result = await _add_file(library, conversation, Path(file.path), file.name)
        if result.status == "skipped":
            notes.append(f"I couldn't use **{file.name}**: {result.reason}.")
            continue
        if file.name not in conversation.uploads:
            conversation.uploads.append(file.name)
        notes.append(f"I've read **{file.name}**. You can ask me about it in this conversation.")
    await cl.Message(content="\n\n".join(notes)).send()


async def _add_file(library: UploadLibrary, conversation: Conversation, path: Path, name: str) -> FileResult:
    try:
        if path.stat().st_size > library.limits.max_bytes:  # refuse before reading it into memory
            mb = library.limits.max_bytes / (1024 * 1024)
            return FileResult(name, "skipped", reason=f"it is larger than the {mb:g} MB limit")
        data = await asyncio.to_thread(path.read_bytes)
        return await asyncio.to_thread(library.add, conversation.id, data, name)
    except Exception:
        log.exception("upload %s failed in conversation %s", name, conversation.id)
        return FileResult(name, "skipped", reason="something went wrong while reading it; please try again")
