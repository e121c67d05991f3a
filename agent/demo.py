"""Demo conversations for a fresh install, so a new support lead opens a populated workspace.

Every conversation is real: it runs through the chat service (the same engine, tools, knowledge and history a
customer gets), so its transcript, tool steps, sources, tickets, ratings and facts are what the product would
have recorded. Afterwards each one is moved back in time by whole days, so the charts show a few weeks.

Seeding happens once: only into a history without conversations, and never when AUTH_DEMO_CONVERSATIONS is off.
Each demo chat has a fixed id and is skipped when it exists, so instances starting together on one empty database
write each chat once (but for one that both start in the same instant). Demo messages are not customers': they
never count against a customer's rate limit.
Only reads, declined cards and hand-overs run as the demo customer Dana, so her orders stay as the README
describes them for a new user to try.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.chat.service import ChatService, Customer
from agent.datalayer.backdate import backdate_conversation
from agent.datalayer.store import ChatStore
from agent.datalayer.store_rows import threads
from agent.runner.events import Choices, ConfirmationRequested
from agent.sessions.base import Decision
from tools.store.db import StoreDatabase
from tools.store.models import Ticket
from tools.store.seed import DANA_EMAIL

log = logging.getLogger(__name__)
UP, DOWN = 1, 0
ANONYMOUS = None
CUSTOMERS = {DANA_EMAIL: "Dana Whitfield", "sam.okafor@example.com": "Sam Okafor",
             "mia.larsen@example.com": "Mia Larsen", "noah.kim@example.com": "Noah Kim"}  # fmt: skip
SAM, MIA, NOAH = "sam.okafor@example.com", "mia.larsen@example.com", "noah.kim@example.com"
# A step is a message (str), a click on the latest card ("confirm" / "decline"), or a quick reply ("#1" = first).
CONFIRM, DECLINE = "confirm", "decline"


@dataclass(frozen=True)
class DemoChat:
    who: str | None  # the customer's email, or None for an anonymous visitor
    days_ago: int
    steps: Sequence[str]
    rating: int | None = None  # on the last reply


DEMO_CHATS = (
    DemoChat(DANA_EMAIL, 27, ["Where is my order #W1001002?"], UP),
    DemoChat(SAM, 26, ["How long does standard shipping take?"], UP),
    DemoChat(ANONYMOUS, 25, ["Do you ship to Iceland?"], DOWN),
    DemoChat(MIA, 24, ["How long do I have to return an item?", "And for exchanges?"], UP),
    DemoChat(DANA_EMAIL, 23, ["Can I get an invoice for order #W1001001?"], UP),
    DemoChat(ANONYMOUS, 22, ["Do you sell cars?"]),
    DemoChat(NOAH, 21, ["I want to talk to a real person"]),
    DemoChat(DANA_EMAIL, 20, ["Please cancel order #W1001004, I ordered it by mistake", DECLINE, "thanks"], UP),
    DemoChat(SAM, 19, ["Is the desk lamp available in white?"], UP),
    DemoChat(ANONYMOUS, 18, ["Can I pay with cryptocurrency?"], DOWN),
    DemoChat(DANA_EMAIL, 17, ["Where is my order #W1001002?", "this is ridiculous, my package is lost"], DOWN),
    DemoChat(DANA_EMAIL, 16, ["cancel order #W1001002", "I really need it cancelled anyway"]),
    DemoChat(ANONYMOUS, 15, ["hello", "#1"]),
    DemoChat(NOAH, 14, ["Do you price match other shops?"]),
    DemoChat(SAM, 13, ["How long do refunds take to appear on a card?"], UP),
    DemoChat(ANONYMOUS, 12, ["blorf quux zzzt", "wibble wobble frotz"], DOWN),
    DemoChat(DANA_EMAIL, 11, ["what products do you sell?"], UP),
    DemoChat(MIA, 10, ["Do you offer gift wrapping?"]),
    DemoChat(ANONYMOUS, 9, ["Is there a student discount?"], DOWN),
    DemoChat(DANA_EMAIL, 8, ["I'd like to return the keyboard", "put the refund on my gift card", DECLINE]),
    DemoChat(NOAH, 7, ["Can I pay with PayPal?"], UP),
    DemoChat(SAM, 6, ["Do you have a physical store I can visit?"]),
    DemoChat(DANA_EMAIL, 5, ["where is my refund?"], UP),
    DemoChat(ANONYMOUS, 4, ["Can I change the delivery date of my order?"], DOWN),
    DemoChat(MIA, 3, ["What does the warranty cover?"], UP),
    DemoChat(NOAH, 3, ["Do you ship to Iceland?"]),
    DemoChat(DANA_EMAIL, 2, ["What's the status of W1001004"], UP),
    DemoChat(SAM, 2, ["I need to speak with a manager about a damaged item"]),
    DemoChat(ANONYMOUS, 1, ["Do you offer gift cards for birthdays?"]),
    DemoChat(MIA, 1, ["How do I reset my password?"], UP),
    DemoChat(DANA_EMAIL, 0, ["How long does standard shipping take?"]),
    DemoChat(NOAH, 0, ["Is there a student discount?"]),
)


async def has_conversations(store: ChatStore) -> bool:
    async def run(conn: AsyncConnection) -> bool:
        return bool((await conn.execute(select(func.count()).select_from(threads))).scalar())

    return await store.transaction("count_threads", None, run)


class _NoLimit:
    async def hit(self, key: str) -> Decision:
        return Decision(True)


async def seed_demo_conversations(chat: ChatService, store: ChatStore, shop: StoreDatabase,
                                  chats: Sequence[DemoChat] = DEMO_CHATS) -> int:
    """Play `chats` into an empty history; returns how many were written (0 if there were conversations)."""
    if await has_conversations(store):
        return 0
    unlimited = copy.copy(chat)
    unlimited.limiter = _NoLimit()
    written = 0
    for number, chat_script in enumerate(chats):
        conversation_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"larkspur-demo/{number}"))
        if await store.get_thread(conversation_id) is None:  # another instance may be seeding too
            await _play(unlimited, store, shop, chat_script, conversation_id)
            written += 1
    log.info("seeded %d demo conversations", written)
    return written


async def _play(chat: ChatService, store: ChatStore, shop: StoreDatabase, script: DemoChat,
                conversation_id: str) -> None:
    who = Customer(conversation_id)
    if script.who is not None:
        name = CUSTOMERS.get(script.who, script.who)
        owner = await store.ensure_user(script.who, name, {})
        who = Customer(conversation_id, script.who, name)
        await store.update_thread(conversation_id, name=script.steps[0], user_id=owner["id"])
    else:
        await store.update_thread(conversation_id, name=script.steps[0])
    last_reply, card, choices = None, None, ()
    for step in script.steps:
        reply_id = str(uuid.uuid4())
        if step in (CONFIRM, DECLINE):
            if card is None:  # the script expected a card the engine did not show: a click on nothing
                log.warning("demo chat %r: no card to %s", script.steps[0], step)
                continue
            events = chat.confirm(who, card, approve=step == CONFIRM, reply_id=reply_id)
        else:
            text = choices[int(step[1:]) - 1] if step.startswith("#") and choices else step
            events = chat.send(who, text, reply_id=reply_id)
        card, choices = None, ()
        async for event in events:
            if isinstance(event, ConfirmationRequested):
                card = event.token
            elif isinstance(event, Choices):
                choices = event.options
        last_reply = reply_id
    if script.rating is not None and last_reply is not None:
        await store.save_feedback(for_id=last_reply, value=script.rating, comment=None, feedback_id=None,
                                  thread_id=conversation_id)
    if script.days_ago:
        shift = timedelta(days=script.days_ago)
        await backdate_conversation(store, conversation_id, shift)
        async with shop.session() as session:
            for ticket in await session.scalars(select(Ticket).where(Ticket.conversation_id == conversation_id)):
                ticket.created_at -= shift  # in Python: SQLite stores times as text, without date arithmetic
