"""What a live hand-over is, and the protocol its records are kept through (the data layer implements it,
agent/datalayer/handovers.py). The desk (agent/chat/desk.py) runs the hand-over; the chat service asks
`live_handover` before every turn, so the assistant stays quiet while a human holds the conversation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from agent.errors import AgentRuntimeError

HANDED_BACK, SOLVED = "handed_back", "solved"  # why a hand-over ended


@dataclass(frozen=True)
class Staff:
    """A human colleague: the sign-in identifier and the name the customer sees."""

    identifier: str
    name: str


@dataclass(frozen=True)
class Handover:
    id: str
    conversation_id: str
    ticket_id: str
    staff: Staff
    escalated_at: datetime  # the ticket's opening; naive UTC, like every time in the data layer
    started_at: datetime
    first_reply_at: datetime | None = None
    ended_at: datetime | None = None


class HandoverError(AgentRuntimeError):
    """A hand-over action that cannot happen as asked; `user_message` says why, to the staff member."""


class HandoverTaken(HandoverError):
    def __init__(self, holder: Staff) -> None:
        super().__init__(f"taken over by {holder.identifier}")
        self.holder = holder
        self.user_message = f"This conversation has been taken over by {holder.name}."


class NotHeld(HandoverError):
    user_message = "Nobody has taken this conversation over: take it over first."


class HumanMessageRefused(HandoverError):
    """Too long, empty or too fast: said to the human like it would be to a customer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.user_message = message
        self.status = status


class Handovers(Protocol):
    async def live_handover(self, conversation_id: str) -> Handover | None:
        """The hand-over holding the conversation now, if any."""
        ...

    async def start_handover(self, conversation_id: str, ticket_id: str, staff: Staff,
                             escalated_at: datetime) -> Handover:
        """Record that `staff` holds the conversation from now on; HandoverTaken when someone else already does
        (the same person taking it again gets the live hand-over back)."""
        ...

    async def end_handover(self, conversation_id: str, reason: str) -> Handover | None:
        """End the live hand-over (None when there was none)."""
        ...

    async def first_human_reply(self, handover: Handover) -> bool:
        """Stamp the hand-over's first reply now; False when it already had one."""
        ...

    async def handover_times(self, conversation_id: str, *, pickup_ms: int | None = None,
                             first_reply_ms: int | None = None) -> None:
        """The conversation's facts: escalation -> pick-up and -> first human reply, each kept from the first time."""
        ...

    async def notify_absent(self, conversation_id: str, subject: str, body: str) -> bool:
        """Queue a notification for the conversation's owner in the outbox; False for an anonymous conversation."""
        ...
