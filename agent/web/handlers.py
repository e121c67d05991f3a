"""Chainlit's messages, files and clicks mapped onto the chat service; its events rendered on the page.

Nothing here decides anything: limits, locks, uploads, turns and persistence are the service's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import datetime
from pathlib import Path

import chainlit as cl

from agent.chat.intake import Upload
from agent.chat.service import ChatService, Customer
from agent.runner.events import AgentEvent
from agent.web.render import CONFIRM_ACTION, TurnView, remove_card_buttons, take_choice


def customer(conversation_id: str, user: cl.User | None) -> Customer:
    if user is None:
        return Customer(conversation_id)
    return Customer(conversation_id, user.identifier, user.display_name or user.identifier,
                    role=str((user.metadata or {}).get("role") or "customer"))


def uploads(message: cl.Message) -> list[Upload]:
    return [Upload(e.name, path=Path(e.path)) for e in message.elements or [] if getattr(e, "path", None)]


def received_at(message: cl.Message) -> datetime | None:
    """When Chainlit stored the message: its run step, which holds the reply, starts after it and is shown only
    under it, so the service's copy of the message must keep this time, not a later one."""
    try:
        return datetime.fromisoformat(message.created_at) if message.created_at else None
    except (TypeError, ValueError):
        return None


async def show(events: AsyncIterator[AgentEvent], reply_id: str, stream_interval_s: float) -> None:
    view = TurnView(reply_id, stream_interval_s)
    async with aclosing(events) as stream:  # closing on cancel lets the service record the partial reply
        try:
            async for event in stream:
                await view.show(event)
        finally:
            await view.close()


async def handle_message(message: cl.Message, chat: ChatService, conversation_id: str, user: cl.User | None,
                         stream_interval_s: float = 0.0) -> None:
    """A customer message with its attachments; the page already shows the message itself."""
    reply_id = str(uuid.uuid4())
    events = chat.send(customer(conversation_id, user), message.content, uploads(message), message_id=message.id,
                       reply_id=reply_id, received_at=received_at(message))
    await show(events, reply_id, stream_interval_s)


async def handle_action(action: cl.Action, chat: ChatService, conversation_id: str, user: cl.User | None,
                        stream_interval_s: float = 0.0) -> None:
    """A Confirm or Cancel click: the card's buttons go at once, then the service resolves its token."""
    token = str(action.payload.get("token", ""))
    await remove_card_buttons(token, action.forId)
    reply_id = str(uuid.uuid4())
    events = chat.confirm(customer(conversation_id, user), token, approve=action.name == CONFIRM_ACTION,
                          reply_id=reply_id)
    await show(events, reply_id, stream_interval_s)


async def handle_choice(action: cl.Action, chat: ChatService, conversation_id: str, user: cl.User | None,
                        stream_interval_s: float = 0.0) -> None:
    """A quick-reply click: its buttons go, the choice shows as the customer's message and is answered."""
    value = await take_choice(action)
    if value is None:
        return  # a stale or forged click: nothing was offered under this message
    message = cl.Message(content=value, type="user_message", author=user.identifier if user else "User")
    await message.send()
    await handle_message(message, chat, conversation_id, user, stream_interval_s)
