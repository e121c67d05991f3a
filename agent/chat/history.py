"""What the chat service writes to the conversation's lasting history, and the protocol it writes through.

The data layer implements `History` (agent/datalayer/history.py); the session store only holds working
memory, so every message and reply is written here before the service ends a turn.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

from tools.base import ToolResult

Speaker = Literal["customer", "assistant", "tool", "human"]  # human: a staff member who took the conversation over
HUMAN = "human"  # the stored step's metadata key marking a human colleague's message


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Entry:
    """One message of a conversation, or one tool the assistant ran (author = the tool's name, text = what it
    returned, `input` = its arguments), as a transcript shows it."""

    id: str
    speaker: Speaker
    author: str  # the name shown beside it
    text: str
    # None: when the history receives it, unless the channel already stored the message with its own time
    # (Chainlit nests a turn under the customer's message, and orders a thread by these times).
    created_at: datetime | None = None
    input: str | None = None  # a tool's arguments, as JSON
    is_error: bool = False
    human: bool = False  # written by a staff member who took the conversation over: marked so in the store


def tool_step_id(reply_id: str, call_id: str) -> str:
    """The id of a tool's step in the reply `reply_id`: the service and a channel that shows the step (Chainlit
    persists it too) derive the same id, so both write one row. Call ids repeat across turns; reply ids don't."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{reply_id}/{call_id}"))


def tool_output(result: ToolResult) -> str:
    """What a tool returned, as a transcript shows it: the error, the passages found, or the data."""
    if not result.ok:
        return f"{result.error}: {result.message}"
    if result.sources:
        return "\n".join(f"- {p.citation} (score {p.score:.2f})" for p in result.sources)
    if result.data is not None:
        return json.dumps(result.data, indent=2, default=str, ensure_ascii=False)
    return result.message or ""


class History(Protocol):
    async def conversation_messages(self, conversation_id: str) -> list[tuple[str, str]]:
        """(role, text) of the customer's and assistant's messages, oldest first (memory is rebuilt from it)."""
        ...

    async def record(self, conversation_id: str, entries: Sequence[Entry]) -> None:
        """Write (or rewrite, by id) these messages; raises the store's runtime error when it cannot."""
        ...
