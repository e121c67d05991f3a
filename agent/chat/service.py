"""`ChatService`: one customer action end to end, the same for every channel (today the Chainlit page).

A message: rate limit -> the conversation, locked and loaded -> uploads -> the turn -> the customer's
message and the reply written to the history -> memory saved -> lock released. A click on a card: the
same, with the confirmation instead of a turn. It yields the runner's typed events; a channel renders
them and knows nothing else. The last event is always a `TurnDone`, sent only once everything is saved:
the transcript, then the conversation's facts (agent/chat/facts.py), both even when the reply was stopped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime

from agent import metrics
from agent.chat.desk import HumanDesk
from agent.chat.handovers import Handover
from agent.chat.facts import FactsLog, FactsRecorder, IntentTagger, TurnFacts
from agent.chat.priority import FirstWordsFirst
from agent.chat.history import Entry, History, now, tool_output, tool_step_id
from agent.chat.intake import Upload, take_in
from agent.errors import AgentRuntimeError
from agent.logs import log_context
from agent.runner.conversation import Conversation
from agent.runner.events import (
    AgentEvent, ErrorEvent, Notice, Sources, TextDelta, ToolCallStarted, ToolFinished, TurnDone,
)
from agent.runner.orchestrator import EMPTY_REPLY, SupportAgent
from agent.sessions.base import RateLimiter
from agent.sessions.conversations import ConversationRepository
from knowledge.uploads import UploadLibrary

log = logging.getLogger(__name__)
RATE_LIMITED = (
    "You're sending messages faster than I can answer. Please wait {wait} seconds, then send your message again."
)
STOPPING = (
    "I'm restarting for maintenance and can't take new messages on this connection. Your message was not "
    "processed: please send it again in a moment; this conversation and its history are kept."
)
HELD_CARD = (
    "{name} from our support team is handling this conversation now, so this card can no longer be used. "
    "Nothing was changed; {name} can make the change for you."
)
Turn = Callable[[Conversation, "Transcript"], AsyncIterator[AgentEvent]]


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Customer:
    """Who acts, in which conversation: the signed-in identifier (None when anonymous) and the shown name."""

    conversation_id: str
    user_id: str | None = None
    name: str = "Customer"
    role: str | None = None  # customer, lead, admin: for the log lines of what they do


class Transcript:
    """The entries of one action, written to the history as they become final; one failure is said once."""

    def __init__(self, history: History | None, conversation_id: str) -> None:
        self.history = history
        self.conversation_id = conversation_id
        self.pending: list[Entry] = []
        self.failed = False
        self._behind: asyncio.Future[ErrorEvent | None] | None = None

    def add(self, entry: Entry) -> None:
        if entry.text:
            self.pending.append(entry)

    def write_behind(self) -> None:
        """Start writing the pending entries while the turn goes on; the next `flush` waits for them first (so
        the history keeps their order) and reports their failure."""
        self._behind = asyncio.ensure_future(self._write(self._take()))

    async def flush(self) -> ErrorEvent | None:
        earlier = None
        if self._behind is not None:  # shielded: a stop must not cancel it; kept until done, for the last flush
            earlier = await asyncio.shield(self._behind)
            self._behind = None
        return await self._write(self._take()) or earlier

    def _take(self) -> list[Entry]:
        written, self.pending = self.pending, []
        return written

    async def _write(self, written: list[Entry]) -> ErrorEvent | None:
        if self.history is None or not written:
            return None
        try:
            await self.history.record(self.conversation_id, written)
        except AgentRuntimeError as exc:
            log.error("conversation %s: %d messages not saved: %s", self.conversation_id, len(written), exc)
            if not self.failed:
                self.failed = True
                return ErrorEvent("not_saved", exc.user_message)
        return None


class ChatService:
    def __init__(self, agent: SupportAgent, conversations: ConversationRepository, limiter: RateLimiter,
                 uploads: UploadLibrary | None = None, history: History | None = None,
                 assistant_name: str = "Assistant", facts: FactsLog | None = None,
                 tagger: IntentTagger | None = None, desk: HumanDesk | None = None,
                 first_words: FirstWordsFirst | None = None) -> None:
        self.agent = agent
        self.conversations = conversations
        self.limiter = limiter
        self.uploads = uploads
        self.history = history
        self.assistant_name = assistant_name
        self.recorder = FactsRecorder(facts, tagger)
        self.desk = desk  # live hand-overs: while a human holds a conversation, its messages go to them
        self.draining = False  # set on shutdown: new messages are refused, running actions finish
        self.running = 0
        self.first_words = first_words or FirstWordsFirst(0, 0.0)  # by default, bookkeeping never waits

    def drain(self) -> None:
        """Refuse new messages from now on (the instance is stopping); `running` says when the rest is done."""
        self.draining = True

    def started(self, conversation_id: str) -> None:
        """A conversation the channel has just opened under an id of its own making: nothing to look up yet."""
        self.conversations.begin(conversation_id)

    async def send(self, who: Customer, text: str, files: Sequence[Upload] = (), *, message_id: str | None = None,
                   reply_id: str | None = None, received_at: datetime | None = None) -> AsyncIterator[AgentEvent]:
        """A customer's message (and attachments). `message_id` / `reply_id` let a channel reuse its own ids; a
        channel that stores the message itself (Chainlit) gives the time it stored it with as `received_at`."""
        message_id, reply_id = message_id or new_id(), reply_id or new_id()
        if self.draining:
            metrics.REFUSED_WHILE_DRAINING.inc()
            with log_context(conversation_id=who.conversation_id, role=who.role):
                log.info("message refused in conversation %s: the instance is stopping", who.conversation_id)
            yield Notice(new_id(), STOPPING)
            yield TurnDone("", "rejected", reason="draining")
            return
        if not text.strip() and not files:  # nothing to store and nothing to answer but this
            yield Notice(new_id(), EMPTY_REPLY)
            yield TurnDone("", "rejected", reason="empty")
            return
        facts = TurnFacts.for_message(who.conversation_id, who.user_id, message_id, text)

        async def turn(conversation: Conversation, transcript: Transcript) -> AsyncIterator[AgentEvent]:
            # The customer's message is written first, so it precedes everything the turn adds.
            message = Entry(message_id, "customer", who.name, text, received_at)
            transcript.add(message)
            if received_at is None:  # only this write stores it: before the turn goes on
                if failure := await transcript.flush():
                    yield failure
            else:
                # The channel stored it already, dated: this copy keeps that date, so the turn need not wait for
                # it (under 100 chats it queued ~100 ms behind other writes before the first word). The next
                # flush waits for it, the last one before the turn ends at the latest.
                transcript.write_behind()
            if files and self.uploads is not None:
                notice = Notice(new_id(), await take_in(self.uploads, conversation, files))
                transcript.add(Entry(notice.id, "assistant", self.assistant_name, notice.text, now()))
                yield notice
            if await self._held(who.conversation_id) is not None:
                if failure := await transcript.flush():  # stored before the colleague is told of it
                    yield failure
                await self.desk.customer_wrote(who.conversation_id, message)  # the human answers, not the assistant
                yield TurnDone("", "human")
                return
            if not text.strip():
                yield TurnDone("", "completed")  # files only: the note was the answer
                return
            answer = self._answer(self.agent.run_turn(conversation, text), reply_id, transcript)
            async with aclosing(answer) as stream:
                async for event in stream:
                    yield event

        async with aclosing(self._act(who, turn, facts)) as events:
            async for event in events:
                yield event

    # Clicks are taken while draining: a card's buttons are gone once clicked, and the action is short.
    async def confirm(self, who: Customer, token: str, approve: bool, *,
                      reply_id: str | None = None) -> AsyncIterator[AgentEvent]:
        """A click on a confirmation card: Confirm (`approve`) or Cancel, by the card's token."""
        reply_id = reply_id or new_id()

        async def turn(conversation: Conversation, transcript: Transcript) -> AsyncIterator[AgentEvent]:
            held = await self._held(who.conversation_id)
            if held is not None:  # writes are the human's call now: the assistant applies nothing
                yield Notice(new_id(), HELD_CARD.format(name=held.staff.name))
                yield TurnDone("", "rejected", reason="held_card")
                return
            answer = self._answer(self.agent.resolve_action(conversation, token, approve), reply_id, transcript)
            async with aclosing(answer) as events:
                async for event in events:
                    yield event

        # Not rate-limited: a card's buttons are gone once clicked, and a refused click would strand the action.
        facts = TurnFacts.for_click(who.conversation_id, who.user_id)
        async with aclosing(self._act(who, turn, facts, limited=False)) as events:
            async for event in events:
                yield event

    async def _held(self, conversation_id: str) -> Handover | None:
        """Who holds the conversation, if anyone. Unknown while the history is down: then the assistant answers,
        as it did before hand-overs existed, rather than leaving the customer with an error."""
        if self.desk is None:
            return None
        try:
            return await self.desk.holder(conversation_id)
        except AgentRuntimeError as exc:
            log.warning("conversation %s: hand-over state unknown (%s); the assistant answers", conversation_id, exc)
            return None

    async def _act(self, who: Customer, turn: Turn, facts: TurnFacts,
                   limited: bool = True) -> AsyncIterator[AgentEvent]:
        """Rate limit, lock, run `turn`, record its entries and facts, save; `TurnDone` waits for all of it."""
        kind = "message" if limited else "click"
        self.running += 1  # from the start, so a drain never misses an action that is still being admitted
        metrics.TURNS_RUNNING.inc()
        started = time.monotonic()
        try:
            with log_context(turn_id=new_id(), conversation_id=who.conversation_id, role=who.role):
                async with aclosing(self._measured(who, turn, facts, kind, started, limited)) as events:
                    async for event in events:
                        yield event
        finally:
            self.running -= 1
            metrics.TURNS_RUNNING.dec()

    async def _measured(self, who: Customer, turn: Turn, facts: TurnFacts, kind: str, started: float,
                        limited: bool) -> AsyncIterator[AgentEvent]:
        decision = await self.limiter.hit(who.user_id or who.conversation_id) if limited else None
        if decision is not None and not decision.allowed:
            metrics.RATE_LIMITED.inc()
            metrics.TURNS.labels(kind, "rate_limited").inc()
            wait = max(1, math.ceil(decision.retry_after_s))
            yield Notice(new_id(), RATE_LIMITED.format(wait=wait))
            yield TurnDone("", "rejected", reason="rate_limited", retry_after_s=wait)
            return
        self.recorder.begin(facts)  # tagging the message, when it needs a forward pass, runs beside the turn
        done = TurnDone("", "failed")
        status = "stopped"  # unless the turn reaches its end
        first_text = False
        waiting = True  # for its first words: a tool step is not an answer yet
        self.first_words.arrived()
        try:
            async with aclosing(self._locked(who, turn)) as events:
                async for event in events:
                    if waiting and not isinstance(event, (ToolCallStarted, ToolFinished)):
                        waiting = False
                        self.first_words.answered()
                    if isinstance(event, TurnDone):
                        # Finished now, even if a stop comes while its writes wait (`yield_to_waiting`).
                        done, status = event, event.status
                        facts.finish(status)
                        continue
                    if isinstance(event, TextDelta) and not first_text and limited:
                        first_text = True
                        metrics.FIRST_TOKEN_SECONDS.observe(time.monotonic() - started)
                    facts.see(event)
                    yield event
            if done.status != status:  # no TurnDone came (a lock timeout): the turn failed; not reached when stopped
                status = done.status
                facts.finish(status)
        finally:
            if waiting:
                self.first_words.answered()
            metrics.TURNS.labels(kind, status).inc()
            metrics.TURN_SECONDS.labels(kind).observe(time.monotonic() - started)
            await asyncio.shield(self.recorder.record(facts))  # after the transcript; on a stop too
        yield done

    async def _locked(self, who: Customer, turn: Turn) -> AsyncIterator[AgentEvent]:
        """Under the conversation's lock: `turn`, then its entries written, even when it was stopped."""
        try:
            async with self.conversations.open(who.conversation_id, who.user_id) as conversation:
                transcript = Transcript(self.history, who.conversation_id)
                try:
                    async with aclosing(turn(conversation, transcript)) as events:
                        async for event in events:
                            yield event
                    await self.first_words.yield_to_waiting()  # answered: others' first words before our writes
                finally:
                    # Written before the turn ends, and even when it was stopped: the history loses nothing.
                    failure = await asyncio.shield(transcript.flush())
                if failure is not None:
                    yield failure
        except AgentRuntimeError as exc:  # lock timeout, write conflicts: said plainly, never a stack trace
            log.warning("action in conversation %s not processed: %s", who.conversation_id, exc)
            yield ErrorEvent(getattr(exc, "kind", "runtime"), exc.user_message)

    async def _answer(self, events: AsyncIterator[AgentEvent], reply_id: str,
                      transcript: Transcript) -> AsyncIterator[AgentEvent]:
        """Pass the runner's events on; the reply (all of it, or what was streamed before a stop) joins the entries."""
        parts, sources, started = [], "", None
        calls: dict[str, tuple[ToolCallStarted, datetime]] = {}
        try:
            async with aclosing(events) as stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        started = started or now()  # the reply begins with its first words, after the tools
                        parts.append(event.text)
                    elif isinstance(event, Sources):
                        sources = event.line
                    elif isinstance(event, ToolCallStarted):
                        calls[event.call_id] = (event, now())
                    elif isinstance(event, ToolFinished) and event.call_id in calls:
                        transcript.add(tool_entry(reply_id, *calls.pop(event.call_id), event))
                    yield event
        finally:
            if text := "".join(parts).strip():
                transcript.add(Entry(reply_id, "assistant", self.assistant_name, text + sources, started or now()))


def tool_entry(reply_id: str, call: ToolCallStarted, at: datetime, finished: ToolFinished) -> Entry:
    """A tool the assistant ran, for the transcript (every channel's: leads read tool steps in it)."""
    result = finished.result
    failed = not result.ok and not result.awaiting_confirmation  # a previewed write waiting for a click is fine
    return Entry(tool_step_id(reply_id, call.call_id), "tool", call.name, tool_output(result), at,
                 input=call.arguments, is_error=failed)
