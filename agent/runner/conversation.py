"""What the agent remembers of one conversation between turns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agent.models.messages import Message
from knowledge.types import Passage

_MARKER = re.compile(r"\[(\d+)\]")
_PARTIAL_MARKER = re.compile(r"\[\d{0,3}$")


def estimate_tokens(text: str) -> int:
    """About 4 tokens per 3 English words; close enough to budget a prompt without a tokenizer."""
    return (len(text.split()) * 4 + 2) // 3


@dataclass
class Conversation:
    id: str
    user_id: str | None = None
    # Only user messages and final assistant replies: tool traffic lives within its turn.
    messages: list[Message] = field(default_factory=list)
    summary: str = ""  # what older messages, no longer in `messages`, said
    uploads: list[str] = field(default_factory=list)  # file names searchable in this conversation
    customer_id: str | None = None  # the store customer this conversation acts for, once identified
    # Writes waiting for the customer's click, by confirmation token (see PendingAction).
    pending: dict[str, PendingAction] = field(default_factory=dict)
    # Outcomes of the latest resolved tokens: a second click on a card gets the same answer.
    resolved: dict[str, str] = field(default_factory=dict)
    dialogue: dict[str, Any] = field(default_factory=dict)  # a stateful model's own state (see ModelRequest)
    # Cards the customer resolved since the model last spoke, as (tool, outcome): told to it next turn.
    settled: list[tuple[str, str]] = field(default_factory=list)

    def resolve(self, token: str, outcome: str, keep: int) -> None:
        self.pending.pop(token, None)
        self.resolved[token] = outcome
        for old in list(self.resolved)[:-keep]:
            del self.resolved[old]

    def add(self, message: Message) -> None:
        self.messages.append(message)

    def window(self, max_messages: int, max_tokens: int | None = None) -> list[Message]:
        """The latest messages that fit both budgets (at least the newest one)."""
        kept: list[Message] = []
        tokens = 0
        for message in reversed(self.messages[-max_messages:]):
            tokens += estimate_tokens(message.content)
            if kept and max_tokens is not None and tokens > max_tokens:
                break
            kept.insert(0, message)
        return kept

    def split_off(self, max_messages: int, max_tokens: int) -> list[Message]:
        """Remove and return the messages that fell out of the window (for the rolling summary)."""
        cut = len(self.messages) - len(self.window(max_messages, max_tokens))
        dropped, self.messages = self.messages[:cut], self.messages[cut:]
        return dropped

    def to_state(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "summary": self.summary,
            "uploads": list(self.uploads),
            "customer_id": self.customer_id,
            "pending": {token: action.to_state() for token, action in self.pending.items()},
            "resolved": dict(self.resolved),
            "dialogue": self.dialogue,
            "settled": [list(pair) for pair in self.settled],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Conversation:
        return cls(
            id=state["id"],
            user_id=state.get("user_id"),
            messages=[Message(m["role"], m["content"]) for m in state.get("messages", [])],
            summary=state.get("summary", ""),
            uploads=list(state.get("uploads", [])),
            customer_id=state.get("customer_id"),
            pending={token: PendingAction.from_state(a) for token, a in state.get("pending", {}).items()},
            resolved=dict(state.get("resolved", {})),
            dialogue=dict(state.get("dialogue", {})),
            settled=[(str(tool), str(outcome)) for tool, outcome in state.get("settled", [])],
        )


@dataclass(frozen=True)
class PendingAction:
    """A previewed write, bound to its exact arguments and customer, valid until `expires_at` (epoch s)."""

    tool: str
    arguments: dict[str, Any]
    customer_id: str | None
    summary: tuple[str, ...]
    expires_at: float

    def to_state(self) -> dict[str, Any]:
        return {"tool": self.tool, "arguments": self.arguments, "customer_id": self.customer_id,
                "summary": list(self.summary), "expires_at": self.expires_at}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PendingAction:
        return cls(state["tool"], dict(state["arguments"]), state.get("customer_id"), tuple(state["summary"]),
                   float(state["expires_at"]))


class SourceBook:
    """Numbers the passages a turn has seen, so the model can cite them as [n].

    The customer sees citations numbered 1, 2, 3 in the order the reply first uses them,
    whatever numbers the model used: `display` rewrites streamed text chunk by chunk.
    """

    def __init__(self) -> None:
        self._by_id: dict[str, tuple[int, Passage]] = {}
        self._by_ref: dict[int, Passage] = {}
        self._shown: dict[int, int] = {}  # model's ref -> number shown to the customer
        self._held = ""  # a marker split across chunks, e.g. "[1" then "2]"

    def add(self, passages: list[Passage] | tuple[Passage, ...]) -> list[int]:
        refs = []
        for passage in passages:
            if passage.id not in self._by_id:
                ref = len(self._by_id) + 1
                self._by_id[passage.id] = (ref, passage)
                self._by_ref[ref] = passage
            refs.append(self._by_id[passage.id][0])
        return refs

    def display(self, chunk: str) -> str:
        text = self._held + chunk
        partial = _PARTIAL_MARKER.search(text)
        self._held = text[partial.start():] if partial else ""
        return _MARKER.sub(self._renumber, text[: partial.start()] if partial else text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return _MARKER.sub(self._renumber, text)

    def _renumber(self, match: re.Match[str]) -> str:
        ref = int(match.group(1))
        if ref not in self._by_ref:
            return match.group(0)  # not one of ours: leave the text alone
        return f"[{self._shown.setdefault(ref, len(self._shown) + 1)}]"

    def cited(self) -> list[tuple[int, Passage]]:
        """(number shown, passage) for every passage the reply cited, in order."""
        return [(shown, self._by_ref[ref]) for ref, shown in self._shown.items()]
