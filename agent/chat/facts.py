"""The facts of a conversation, as the chat service sees them: what one action (a message or a click) adds.

`TurnFacts` watches every event the service yields in one action; `FactsRecorder` tags the customer's message
and writes the result through a `FactsLog` (the data layer) once the transcript is saved, before the action's
`TurnDone` goes out, and also when the customer stopped the reply. A failure to tag or to write is logged, never
shown to the customer and never breaks the turn. The rules:

- turns +1 per customer message with text (files alone are not a turn); `last_customer_at` is its time. A message
  refused by the rate limit never reached the assistant: no facts at all. The conversation starts at its first
  action (or when its thread was created, if earlier).
- first_response_ms: for the conversation's first answered message only, the milliseconds from the moment the
  service received the message to the first streamed token (Chainlit dates a streamed reply when it ends, so the
  history cannot tell). Never overwritten later.
- last_answer_at: the first token of the latest reply, to a message or a click.
- intents: the tagger's intent of each customer message (uses +1).
- tools: every tool run (uses +1; failures +1 when its result is not ok, except a write previewed for a card).
- errors +1 per action that yielded an ErrorEvent (except "invalid_input": an empty or too long message) or ended
  with status "failed" (a click whose card is offered again after an outage counts). A stopped reply is no error.
- cards: shown +1 per new card of a message's turn (a click only re-offers its own card, with the same token, after
  an outage: not counted again); confirmed / declined / expired from `CardSettled` (expired: clicked too late,
  replaced by a newer card, dropped at the next message after its time, or no longer applicable when confirmed).
- ticket: a hand-over's ticket id (`Escalation.ticket_id`), recorded with status "open".
- knowledge miss: a message's turn that completed, whose message asks for information (policy or out-of-scope
  question), with no sources, no successful tool, no card and no hand-over: knowledge_misses +1 and a "missed"
  content gap for the message.
- hand-over gap: a turn or click that hands over leaves a "handed_over" gap for the conversation's latest customer
  message that asks for information (this one, or an earlier one, re-tagged from the history); none if none does.
- ratings (last_rating, "rated_down" gaps) come through the data layer's feedback path, not from here.
- outcome: "escalated" with a ticket, else "error" after any error, else "answered" once answered, else
  "unanswered" (computed by the store from the totals: `facts_log.outcome_of`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from agent.chat.facts_log import (
    ActionFacts, FactsLog, Gap, IntentTag, IntentTagger, ItemUse, Question, RecentTags,
)  # fmt: skip
from agent.chat.history import now
from agent.runner.events import (
    AgentEvent, CardSettled, ConfirmationRequested, ErrorEvent, Escalation, Sources, TextDelta, ToolFinished,
    TurnStatus,
)  # fmt: skip

__all__ = ["ActionFacts", "FactsLog", "FactsRecorder", "IntentTag", "IntentTagger", "Question", "TurnFacts"]

log = logging.getLogger(__name__)
NOT_ERRORS = frozenset({"invalid_input"})  # refusals of what the customer typed, said and done with
LOOK_BACK = 20  # customer messages searched, newest first, for the question behind a hand-over
MS_PER_S = 1000
ActionKind = Literal["message", "click"]


class TurnFacts:
    """What one action shows of its conversation, fed every event the service yields (`see`) and its end."""

    def __init__(self, conversation_id: str, user: str | None, kind: ActionKind, message: Question | None = None,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self.conversation_id, self.user, self.kind, self.message = conversation_id, user, kind, message
        self.at = message.asked_at if message is not None else now()
        self._clock = clock
        self._received = clock()
        self.first_token_ms: int | None = None
        self.answered_at: datetime | None = None
        self.tools: dict[str, list[int]] = {}  # name -> [uses, failures]
        self.cards_shown: set[str] = set()
        self.cards_settled: Counter[str] = Counter()
        self.sources = self.tool_ok = self.escalated = self.error = False
        self.ticket_id: str | None = None
        self.status: TurnStatus | None = None  # None: stopped before it ended
        self.tagging: asyncio.Task[IntentTag | None] | None = None  # the message's tag, when begun with the turn

    @classmethod
    def for_message(cls, conversation_id: str, user: str | None, message_id: str, text: str) -> TurnFacts:
        question = Question(message_id, text, now()) if text.strip() else None
        return cls(conversation_id, user, "message", question)

    @classmethod
    def for_click(cls, conversation_id: str, user: str | None) -> TurnFacts:
        return cls(conversation_id, user, "click")

    def see(self, event: AgentEvent) -> None:
        if isinstance(event, TextDelta) and self.answered_at is None:
            self.answered_at = now()
            self.first_token_ms = round((self._clock() - self._received) * MS_PER_S)
        elif isinstance(event, ToolFinished):
            counts = self.tools.setdefault(event.name, [0, 0])
            counts[0] += 1
            failed = not event.result.ok and not event.result.awaiting_confirmation
            counts[1] += failed
            self.tool_ok = self.tool_ok or event.result.ok
        elif isinstance(event, Sources):
            self.sources = True
        elif isinstance(event, ConfirmationRequested) and self.kind == "message":
            self.cards_shown.add(event.token)  # a set: the same token is one card
        elif isinstance(event, CardSettled):
            self.cards_settled[event.outcome] += 1
        elif isinstance(event, Escalation):
            self.escalated = True
            self.ticket_id = event.ticket_id or self.ticket_id
        elif isinstance(event, ErrorEvent) and event.kind not in NOT_ERRORS:
            self.error = True

    def finish(self, status: TurnStatus) -> None:
        """The action ended (it was not stopped) with this status."""
        self.status = status
        self.error = self.error or status == "failed"

    def missed(self, tag: IntentTag | None) -> bool:
        """An information question the turn completed without sources, tools, card or hand-over."""
        answered_otherwise = self.sources or self.tool_ok or bool(self.cards_shown) or self.escalated
        return (self.message is not None and self.status == "completed" and tag is not None and tag.asks_knowledge
                and not answered_otherwise)

    def result(self, tag: IntentTag | None = None, handed_over: Question | None = None) -> ActionFacts:
        items = [ItemUse("intent", tag.name)] if tag is not None and self.message is not None else []
        items += [ItemUse("tool", name, uses, failures) for name, (uses, failures) in self.tools.items()]
        missed = self.missed(tag)
        gaps = [Gap("missed", self.message)] if missed and self.message is not None else []
        gaps += [Gap("handed_over", handed_over)] if handed_over is not None else []
        message = self.message
        return ActionFacts(
            conversation_id=self.conversation_id, user=self.user, at=self.at,
            turns=int(message is not None), last_customer_at=message.asked_at if message else None,
            answered_at=self.answered_at,
            first_response_ms=self.first_token_ms if message is not None else None,
            errors=int(self.error), knowledge_misses=int(missed),
            cards_shown=len(self.cards_shown), cards_confirmed=self.cards_settled["confirmed"],
            cards_declined=self.cards_settled["declined"], cards_expired=self.cards_settled["expired"],
            ticket_id=self.ticket_id, items=tuple(items), gaps=tuple(gaps),
        )  # fmt: skip


class FactsRecorder:
    """Tags, looks back for a hand-over's question, and writes an action's facts; never raises."""

    def __init__(self, facts: FactsLog | None, tagger: IntentTagger | None) -> None:
        self.facts = facts
        self.tagger = tagger

    def begin(self, turn: TurnFacts) -> None:
        """Start tagging the turn's message now, beside the turn, when the tag will not be at hand at its end (a
        tagger of its own embeds it: an LLM answers, no engine routes the message). Waiting for it after the turn
        added a worker thread's queue and a forward pass to every turn."""
        if (self.facts is not None and turn.message is not None and self.tagger is not None
                and not isinstance(self.tagger, RecentTags)):
            turn.tagging = asyncio.create_task(self.tag(turn.message.text))

    async def record(self, turn: TurnFacts) -> None:
        if self.facts is None:
            return
        try:
            if turn.tagging is not None:
                tag = await turn.tagging
            else:
                tag = await self.tag(turn.message.text) if turn.message is not None else None
            asked = await self._question_handed_over(turn, tag) if turn.escalated else None
            await self.facts.record_action(turn.result(tag, asked))
        except Exception:  # the records must never cost the customer a turn; the history has it all
            log.exception("conversation %s: facts of this action not recorded", turn.conversation_id)

    async def tag(self, text: str) -> IntentTag | None:
        if self.tagger is None or not text.strip():
            return None
        try:
            if isinstance(self.tagger, RecentTags) and (known := self.tagger.known(text)) is not None:
                return known  # routed this turn: a worker thread's queue is the dearest part of asking again
            return await asyncio.to_thread(self.tagger.tag, text)  # it embeds: not on the event loop
        except Exception:
            log.exception("intent tagging failed")
            return None

    async def _question_handed_over(self, turn: TurnFacts, tag: IntentTag | None) -> Question | None:
        if turn.message is not None and tag is not None and tag.asks_knowledge:
            return turn.message
        if self.facts is None or self.tagger is None:
            return None
        for question in await self.facts.customer_questions(turn.conversation_id, LOOK_BACK):
            if turn.message is not None and question.step_id == turn.message.step_id:
                continue  # tagged already
            found = await self.tag(question.text)
            if found is not None and found.asks_knowledge:
                return question
        return None
