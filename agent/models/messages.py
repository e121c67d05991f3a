"""Provider-neutral conversation messages and model request/response types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from knowledge.types import Passage

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text as the model produced it; the registry validates it


@dataclass(frozen=True)
class Message:
    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

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
    def tool(cls, call: ToolCall, content: str) -> Message:
        return cls("tool", content, tool_call_id=call.id, name=call.name)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ModelRequest:
    messages: list[Message]
    tools: list[ToolSpec] = field(default_factory=list)
    # Relevant passages retrieved for this turn, numbered from 1 in this order.
    # LLMs see them in the system message; the offline engine reads them here.
    context: list[Passage] = field(default_factory=list)
    # The conversation's dialogue state, saved in the session store between turns. A model that
    # keeps its own state (the offline dialogue engine) reads and changes it; LLMs ignore it.
    state: dict[str, Any] = field(default_factory=dict)

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
