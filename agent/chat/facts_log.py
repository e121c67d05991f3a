"""What the chat service adds to a conversation's facts after each action, and the protocols it writes through.

The data layer implements `FactsLog` (agent/datalayer/facts.py); the rules that fill an `ActionFacts` are in
agent/chat/facts.py. This module imports nothing of the runner, so the data layer can use its types.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

ItemKind = Literal["intent", "tool"]
GapKind = Literal["missed", "rated_down", "handed_over"]
Outcome = Literal["answered", "unanswered", "escalated", "error"]
TICKET_OPENED = "open"  # a hand-over's ticket status when it is created


@dataclass(frozen=True)
class IntentTag:
    """What a customer's message asks for: the intent's name, and whether it asks for information (a policy or
    an out-of-scope question), which the knowledge base should have answered."""

    name: str
    asks_knowledge: bool


class IntentTagger(Protocol):
    def tag(self, text: str) -> IntentTag | None:
        """The message's intent, or None when it cannot tell (slow: embeds; call it off the event loop)."""
        ...


@runtime_checkable
class RecentTags(Protocol):
    """A tagger that may have a message's tag at hand (the engine routed it this turn): no worker thread needed."""

    def known(self, text: str) -> IntentTag | None:
        """The tag when it needs no embedding, else None (fast: on the event loop)."""
        ...


@dataclass(frozen=True)
class Question:
    """A customer's message: its step id in the history, its text and when it was sent."""

    step_id: str
    text: str
    asked_at: datetime


@dataclass(frozen=True)
class ItemUse:
    """An intent recognised or a tool run, `uses` times in one action (`failures`: tool runs that failed)."""

    kind: ItemKind
    name: str
    uses: int = 1
    failures: int = 0


@dataclass(frozen=True)
class Gap:
    """A question the knowledge base did not answer (missed) or that led to a hand-over (handed_over)."""

    kind: GapKind
    question: Question


@dataclass(frozen=True)
class ActionFacts:
    """What one action (a message or a click) adds to its conversation's facts. Counts are increments."""

    conversation_id: str
    user: str | None  # the signed-in identifier; the store records the owner's users.id
    at: datetime  # when the service received the message or the click
    turns: int = 0
    last_customer_at: datetime | None = None
    answered_at: datetime | None = None  # the first streamed token of this action's reply
    first_response_ms: int | None = None  # a message's time to its first token; kept only for the first answer
    errors: int = 0
    knowledge_misses: int = 0
    cards_shown: int = 0
    cards_confirmed: int = 0
    cards_declined: int = 0
    cards_expired: int = 0
    ticket_id: str | None = None  # a hand-over's ticket: recorded with status "open"
    items: tuple[ItemUse, ...] = ()
    gaps: tuple[Gap, ...] = ()


def outcome_of(ticket_id: str | None, errors: int, last_answer_at: datetime | None) -> Outcome:
    """A conversation's outcome from its totals: a hand-over wins, then any error, then any answer."""
    if ticket_id:
        return "escalated"
    if errors > 0:
        return "error"
    return "answered" if last_answer_at is not None else "unanswered"


class FactsLog(Protocol):
    async def record_action(self, facts: ActionFacts) -> None:
        """Add one action's facts to its conversation's record (created on the first action); atomic."""
        ...

    async def customer_questions(self, conversation_id: str, limit: int) -> list[Question]:
        """The customer's latest messages in the history, newest first, at most `limit`."""
        ...
