"""The closed set of events a turn yields, in the order a UI should render them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from knowledge.types import Passage
from tools.base import ToolResult


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolFinished:
    call_id: str
    name: str
    result: ToolResult


@dataclass(frozen=True)
class Citation:
    ref: int  # the [n] marker used in the reply
    passage: Passage


@dataclass(frozen=True)
class Sources:
    citations: tuple[Citation, ...]

    @property
    def line(self) -> str:
        """The reply's closing line naming its sources, as every channel shows it."""
        return "\n\n**Sources:** " + " · ".join(f"[{c.ref}] {c.passage.citation}" for c in self.citations)


@dataclass(frozen=True)
class Escalation:
    reason: str
    summary: str
    ticket_id: str | None = None  # the hand-over's ticket, when the tool opened one (ToolResult.ticket)


@dataclass(frozen=True)
class ConfirmationRequested:
    """A write tool previewed an action: show its summary with Confirm / Cancel, bound to `token`."""

    token: str
    tool: str
    summary: tuple[str, ...]
    replaces: tuple[str, ...] = ()  # tokens of older cards this one supersedes: their buttons go


CardOutcome = Literal["confirmed", "declined", "expired"]


@dataclass(frozen=True)
class CardSettled:
    """What became of a card: Confirm applied it, Cancel dropped it, or it expired (too late, replaced by a
    newer card, or its action could no longer be applied). Said once per card; repeated clicks say nothing."""

    token: str
    tool: str
    outcome: CardOutcome


@dataclass(frozen=True)
class Choices:
    """Quick replies for the reply just streamed; choosing one sends it as the customer's next message."""

    options: tuple[str, ...]


@dataclass(frozen=True)
class Notice:
    """A message from the chat service itself, not the model: what became of uploads, why a message waits."""

    id: str
    text: str


@dataclass(frozen=True)
class ErrorEvent:
    kind: str
    message: str  # safe to show the customer


# human: the message went to the human colleague holding the conversation, not to the assistant
TurnStatus = Literal["completed", "failed", "max_steps", "rejected", "human"]


@dataclass(frozen=True)
class TurnDone:
    reply: str
    status: TurnStatus
    # Why a message was refused ("rate_limited", "draining", "empty", "held_card"), and when to send it again:
    # a channel with status codes (the HTTP API) says 429 or 503 instead of only showing the notice.
    reason: str | None = None
    retry_after_s: float | None = None


AgentEvent = (
    TextDelta | ToolCallStarted | ToolFinished | Sources | Escalation | ConfirmationRequested | CardSettled | Choices
    | Notice | ErrorEvent | TurnDone
)
