"""Provider-neutral conversation messages and model request/response types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from knowledge.types import Passage
from tools.base import ToolCall, ToolResult, ToolSpec

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    # A tool message carries the call it answers and its typed result; a wire adapter encodes the
    # result for its model (ToolResult.for_model), a model that reads Python (the offline engine) reads it.
    call: ToolCall | None = None
    result: ToolResult | None = None

    @property
    def tool_call_id(self) -> str | None:
        return self.call.id if self.call else None

    @property
    def name(self) -> str | None:
        return self.call.name if self.call else None

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str, tool_calls: tuple[ToolCall, ...] = ()) -> Message:
        return cls("assistant", content, tool_calls=tool_calls)

    @classmethod
    def tool(cls, call: ToolCall, result: ToolResult) -> Message:
        return cls("tool", call=call, result=result)


@dataclass(frozen=True)
class Settled:
    """What became of a confirmation card since the model last spoke (the customer clicked it)."""

    tool: str
    outcome: Literal["applied", "declined", "failed", "expired"]


@dataclass(frozen=True)
class ModelRequest:
    """One call of a model. Everything in it is a snapshot: recording a request keeps it as it was."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    # Relevant passages retrieved for this turn, numbered from 1 in this order.
    # LLMs see them in the system message; the offline engine reads them here.
    context: tuple[Passage, ...] = ()
    # The conversation's dialogue state, saved between turns. A model that keeps its own state (the
    # offline dialogue engine) reads it here, read-only, and returns the new one in `ModelResponse.state`.
    state: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # Cards resolved by the customer's clicks since the last message.
    settled: tuple[Settled, ...] = ()
    # Model calls the runner still allows in this turn, this one included.
    calls_left: int = 1
    # The shop customer the conversation acts for, once known (signed in, or identified in the chat).
    customer_id: str | None = None
    # For a model that reads passages itself and needs them only for some messages (`context_on_demand`):
    # the turn's retrieval, run on the first call and kept for the turn. Then `context` is empty.
    lookup: Callable[[], Awaitable[tuple[Passage, ...]]] | None = None

    async def passages(self) -> tuple[Passage, ...]:
        """The turn's passages, looked up now if they were left for the model to ask for."""
        return self.context or (await self.lookup() if self.lookup else ())

    @property
    def last_user_text(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class ModelResponse:
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: Usage | None = None
    choices: tuple[str, ...] = ()  # quick replies offered to the customer as buttons
    state: dict[str, Any] | None = None  # a stateful model's new state (None: unchanged, or no state kept)
    # Tools whose waiting confirmation cards the customer took back ("don't cancel it"): the runner retires them.
    withdraw: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextChunk:
    text: str


@dataclass(frozen=True)
class ToolCallChunk:
    index: int
    id: str | None
    name: str | None
    arguments_delta: str


@dataclass(frozen=True)
class ResponseComplete:
    response: ModelResponse


ModelStreamEvent = TextChunk | ToolCallChunk | ResponseComplete
