"""`HumanDesk`: a human colleague taking a conversation over, writing in it, and handing it back, for every channel.

Each thing said is written to the conversation's history first (as the human's message: author = their name,
marked human in the stored step), then published on the relay: to the customer's chat on whichever instance holds
it, and to the staff pages watching the conversation. A customer with no chat open is told through the outbox.
While a hand-over is live the chat service sends the customer's messages here instead of to the assistant.
"""

from __future__ import annotations

import contextlib
import logging
import math
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

from agent import metrics
from agent.chat.handovers import (
    HANDED_BACK, SOLVED, Handover, HandoverTaken, Handovers, HumanMessageRefused, NotHeld, Staff,
)  # fmt: skip
from agent.chat.history import Entry, History, Speaker, now
from agent.errors import AgentRuntimeError
from agent.sessions.base import RateLimiter
from agent.sessions.errors import LockTimeout, SessionUnavailable
from agent.sessions.relay import EventKind, LiveEvent, Relay, RelayUnavailable, customer_channel, staff_channel

log = logging.getLogger(__name__)
JOINED = "{name} from {store} support has joined the conversation."
LEFT = "{name} has left; the assistant is back."
# Said on hand-back when the customer wrote after the human's last message: nobody has answered it.
UNANSWERED = "Your last message wasn't answered yet: send it again and the assistant will answer it."
CLOSED = "{name} has marked this conversation solved. If you need anything else, just write: the assistant is back."
EMPTY = "Write a message first."
TOO_LONG = "That message is too long ({length:,} characters). Please keep it under {limit:,}."
STILL_ANSWERING = "The assistant is still answering this customer. Try again in a moment."
TOO_FAST = "You're sending messages too fast. Please wait {wait} seconds and send it again."
NOTICE_SUBJECT = "{name} from {store} support replied to your conversation"


def _ms(later: datetime, earlier: datetime) -> int:
    return max(0, round((later - earlier).total_seconds() * 1000))


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class HumanDesk:
    def __init__(self, handovers: Handovers, history: History, relay: Relay, limiter: RateLimiter, *,
                 store_name: str, assistant_name: str, max_chars: int,
                 catch_up: Callable[[str], Awaitable[None]] | None = None,
                 lock: Callable[[str], AbstractAsyncContextManager[None]] | None = None) -> None:  # fmt: skip
        self.handovers = handovers
        self.history = history
        self.relay = relay
        self.limiter = limiter
        self.store_name = store_name
        self.assistant_name = assistant_name
        self.max_chars = max_chars
        self.catch_up = catch_up  # rebuilds the assistant's working memory from the history
        self.lock = lock  # the conversation's turn lock: a take-over waits for the answer being written

    async def holder(self, conversation_id: str) -> Handover | None:
        return await self.handovers.live_handover(conversation_id)

    async def take_over(self, conversation_id: str, ticket_id: str, escalated_at: datetime, staff: Staff) -> Handover:
        """`staff` holds the conversation from now on (HandoverTaken if someone else does); said in the chat once."""
        try:
            async with self._turn_lock(conversation_id):
                before = await self.handovers.live_handover(conversation_id)
                held = await self.handovers.start_handover(conversation_id, ticket_id, staff, _naive(escalated_at))
                if before is not None and before.id == held.id:
                    return held  # took it again: already announced
                joined = JOINED.format(name=staff.name, store=self.store_name)
                await self._say(conversation_id, "joined", "human", staff.name, joined, staff)
        except LockTimeout:
            raise HumanMessageRefused(STILL_ANSWERING, status=409) from None
        await self.handovers.handover_times(conversation_id, pickup_ms=_ms(held.started_at, held.escalated_at))
        metrics.HANDOVERS.labels("taken").inc()
        return held

    async def reply(self, conversation_id: str, staff: Staff, text: str) -> LiveEvent:
        """The holder's message to the customer: checked like a customer's, stored, delivered or queued."""
        text = text.strip()
        if not text:
            raise HumanMessageRefused(EMPTY)
        if len(text) > self.max_chars:
            raise HumanMessageRefused(TOO_LONG.format(length=len(text), limit=self.max_chars))
        held = await self._held_by(conversation_id, staff)
        decision = await self.limiter.hit(f"staff:{staff.identifier}")
        if not decision.allowed:
            raise HumanMessageRefused(TOO_FAST.format(wait=max(1, math.ceil(decision.retry_after_s))), status=429)
        event, reached = await self._say(conversation_id, "human", "human", staff.name, text, staff)
        metrics.HUMAN_MESSAGES.labels("delivered" if reached else "queued").inc()
        try:  # the message is said and stored: what follows must not make the lead send it twice
            if await self.handovers.first_human_reply(held):
                await self.handovers.handover_times(conversation_id,
                                                    first_reply_ms=_ms(_naive(now()), held.escalated_at))  # fmt: skip
            if not reached:  # no chat of the customer's is open on any instance
                subject = NOTICE_SUBJECT.format(name=staff.name, store=self.store_name)
                await self.handovers.notify_absent(conversation_id, subject, text)
        except AgentRuntimeError as exc:
            log.error("conversation %s: a reply's timing or notice was not recorded: %s", conversation_id, exc)
        return event

    async def hand_back(self, conversation_id: str, staff: Staff) -> None:
        """The holder gives the conversation back to the assistant.

        It waits for the conversation's turn lock, as a take-over does: a customer's message being taken in
        now is stored (and sent to the human) first, so the hand-back can tell the customer it is unanswered.
        """
        await self._held_by(conversation_id, staff)
        try:
            await self._end(conversation_id, HANDED_BACK, LEFT, self._turn_lock(conversation_id))
        except LockTimeout:
            raise HumanMessageRefused(STILL_ANSWERING, status=409) from None

    @contextlib.asynccontextmanager
    async def _turn_lock(self, conversation_id: str) -> AsyncIterator[None]:
        """The conversation's turn lock; without it when the session store is down: the take-over or hand-back
        goes ahead (the database allows one live hand-over), as the chat service answers without its lock then."""
        async with contextlib.AsyncExitStack() as stack:
            if self.lock is not None:
                try:
                    await stack.enter_async_context(self.lock(conversation_id))
                except SessionUnavailable as exc:
                    log.warning("conversation %s: hand-over changed without its turn lock: %s", conversation_id, exc)
            yield

    async def solved(self, conversation_id: str) -> None:
        """The conversation's ticket was solved: a live hand-over ends with it."""
        await self._end(conversation_id, SOLVED, CLOSED)

    async def customer_wrote(self, conversation_id: str, entry: Entry) -> None:
        """A customer's message (already stored) while a human holds the conversation: to the staff pages."""
        await self._publish(staff_channel(conversation_id), self._event(conversation_id, "customer", entry))

    async def _held_by(self, conversation_id: str, staff: Staff) -> Handover:
        held = await self.handovers.live_handover(conversation_id)
        if held is None:
            raise NotHeld()
        if held.staff.identifier != staff.identifier:
            raise HandoverTaken(held.staff)
        return held

    async def _end(self, conversation_id: str, reason: str, wording: str,
                   guard: AbstractAsyncContextManager[None] | None = None) -> None:
        """End the live hand-over (inside `guard`, the turn lock for a hand-back) and say so, then catch up."""
        async with guard or contextlib.nullcontext():
            ended = await self.handovers.end_handover(conversation_id, reason)
            if ended is None:
                return
            metrics.HANDOVERS.labels(reason).inc()
            said = wording.format(name=ended.staff.name)
            if reason == HANDED_BACK and await self._customer_waits(conversation_id):
                said = f"{said} {UNANSWERED}"
            await self._say(conversation_id, "left", "assistant", self.assistant_name, said, ended.staff)
        if self.catch_up is not None:  # after the lock: catching up takes it; the assistant learns what was said
            await self.catch_up(conversation_id)

    async def _customer_waits(self, conversation_id: str) -> bool:
        """Whether the conversation's last message is the customer's: written after the human's last reply."""
        try:
            messages = await self.history.conversation_messages(conversation_id)
        except AgentRuntimeError as exc:  # the hand-back goes ahead; only the reminder is lost
            log.warning("conversation %s: could not tell whether the customer waits: %s", conversation_id, exc)
            return False
        return bool(messages) and messages[-1][0] == "user"

    async def _say(self, conversation_id: str, kind: EventKind, speaker: Speaker, author: str, text: str,
                   staff: Staff) -> tuple[LiveEvent, bool]:
        """Store, then publish to both sides; whether a customer's chat received it."""
        entry = Entry(str(uuid.uuid4()), speaker, author, text, now(), human=speaker == "human")
        await self.history.record(conversation_id, [entry])
        event = self._event(conversation_id, kind, entry, staff.identifier)
        reached = await self._publish(customer_channel(conversation_id), event)
        await self._publish(staff_channel(conversation_id), event)
        return event, reached > 0

    def _event(self, conversation_id: str, kind: EventKind, entry: Entry, staff: str | None = None) -> LiveEvent:
        at = (entry.created_at or now()).isoformat()
        return LiveEvent(conversation_id, kind, entry.id, entry.author, entry.text, at, staff)

    async def _publish(self, channel: str, event: LiveEvent) -> int:
        try:
            return await self.relay.publish(channel, event)
        except RelayUnavailable as exc:  # stored already: the other side reads it on its next load
            log.warning("live delivery of %s in conversation %s failed: %s", event.kind, event.conversation_id, exc)
            return 0
