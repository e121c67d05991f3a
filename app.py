"""Chainlit hooks only. Everything they call is plain Python under agent/, tools/ and knowledge/."""

from __future__ import annotations

import asyncio
import logging

import chainlit as cl

from agent.chainlit_ui import receive_files, render_turn
from agent.conversation import Conversation
from agent.factory import build_services
from agent.logs import configure_logging
from agent.settings import get_settings

settings = get_settings()
configure_logging(settings.app.log_level)
log = logging.getLogger("app")
services = build_services(settings)

WELCOME = (
    f"**Hi, I'm the {settings.app.store_name} assistant.** I can answer questions about shipping, "
    "returns, refunds, payments, warranty and your account, and I tell you where each answer comes from. "
    "You can also attach an invoice, a receipt or a manual (PDF, Word, text) and ask me about it."
)
STARTERS = [
    ("Where is my order?", "How can I track my order?"),
    ("How do returns work?", "How long do I have to return an item?"),
    ("Shipping times", "How long does standard shipping take?"),
    ("Cancel an order", "Can I cancel my order?"),
]


@cl.set_chat_profiles
async def chat_profiles(user: cl.User | None = None, language: str | None = None) -> list[cl.ChatProfile]:
    # A single profile is Chainlit's way to show a welcome text above the starters.
    return [
        cl.ChatProfile(
            name="Support",
            markdown_description=WELCOME,
            icon="/public/avatar.svg",
            default=True,
            starters=[cl.Starter(label=label, message=message) for label, message in STARTERS],
        )
    ]


@cl.on_chat_start
async def on_chat_start() -> None:
    user = cl.user_session.get("user")
    conversation = Conversation(id=cl.context.session.thread_id, user_id=user.identifier if user else None)
    cl.user_session.set("conversation", conversation)


@cl.on_app_startup
async def on_app_startup() -> None:
    asyncio.get_running_loop().create_task(expire_uploads())


async def expire_uploads() -> None:
    while True:
        try:
            await asyncio.to_thread(services.uploads.expire)
        except Exception:
            log.exception("could not expire old uploads")
        await asyncio.sleep(settings.uploads.expiry_check_s)


@cl.on_message
async def on_message(message: cl.Message) -> None:
    conversation: Conversation = cl.user_session.get("conversation")
    await receive_files(message, conversation, services.uploads)
    if message.content.strip():
        await render_turn(services.agent.run_turn(conversation, message.content))


@cl.on_stop
async def on_stop() -> None:
    # Chainlit cancels the running turn itself; the agent keeps the partial reply, marked as stopped.
    log.info("turn stopped by the customer in conversation %s", cl.context.session.thread_id)


@cl.on_chat_end
async def on_chat_end() -> None:
    conversation: Conversation | None = cl.user_session.get("conversation")
    if conversation:
        log.info("conversation %s disconnected after %d messages", conversation.id, len(conversation.messages))
