"""The HTTP API's request and response bodies (pydantic): what /api/v1/openapi.json documents."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

PROBLEM_JSON = "application/problem+json"
Role = Literal["customer", "assistant", "human", "tool"]


class Problem(BaseModel):
    """An error, as RFC 9457 problem details (application/problem+json)."""

    type: str = Field(description="A stable URI reference naming the kind of problem")
    title: str
    status: int
    detail: str = Field(description="What went wrong, in words fit to show the customer")


class Conversation(BaseModel):
    id: str
    name: str | None = None
    created_at: str | None = None


class ConversationPage(BaseModel):
    conversations: list[Conversation]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next, older page; null at the end")


class Message(BaseModel):
    id: str
    role: Role
    author: str
    text: str
    created_at: str | None = None


class Transcript(BaseModel):
    conversation_id: str
    messages: list[Message]


NOT_BLANK = r"\S"  # a message says something: at least one character that is not a space


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The customer's message", pattern=NOT_BLANK)


def message_model(max_chars: int) -> type[MessageIn]:
    """MessageIn with the configured length limit, so the served schema says what the server checks."""
    return create_model("MessageIn", __base__=MessageIn,
                        text=(str, Field(description="The customer's message", pattern=NOT_BLANK,
                                         max_length=max_chars)))  # fmt: skip


def multipart_schema(max_chars: int, max_files: int) -> dict[str, Any]:
    """A message with files: `text` (optional when files come) and up to `max_files` files."""
    text = {"type": "string", "pattern": NOT_BLANK, "maxLength": max_chars}
    files = {"type": "array", "minItems": 1, "maxItems": max_files, "items": {"type": "string", "format": "binary"}}
    return {"type": "object", "additionalProperties": False, "properties": {"text": text, "files": files},
            "anyOf": [{"required": ["text"]}, {"required": ["files"]}]}  # fmt: skip


class Card(BaseModel):
    """A write the assistant previewed: nothing changes until it is confirmed (POST .../confirmations/{id})."""

    id: str
    tool: str
    summary: list[str]


class Event(BaseModel):
    """One typed event of a turn: `type` says which; the other fields are that type's (see the README)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["text_delta", "tool_call", "tool_result", "sources", "confirmation_request", "card_settled",
                  "choices", "escalation", "notice", "error", "done"]  # fmt: skip


class TurnResult(BaseModel):
    conversation_id: str
    status: str = Field(description="completed, failed, max_steps, rejected, or human (a colleague holds it)")
    reply: str = Field(description="The assistant's whole reply text (notices included)")
    cards: list[Card] = Field(default_factory=list, description="Confirmation cards this turn showed")
    choices: list[str] = Field(default_factory=list, description="Quick replies offered")
    ticket_id: str | None = Field(None, description="The hand-over ticket, when the turn opened one")
    events: list[Event]


class ConfirmationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool = Field(description="true confirms the previewed change, false cancels it")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems a route may answer with."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {status: {"model": Problem, "content": {PROBLEM_JSON: {"schema": schema}}} for status in statuses}
