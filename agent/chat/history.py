"""What the chat service writes to the conversation's lasting history, and the protocol it writes through.

The data layer implements `History` (agent/datalayer/history.py); the session store only holds working
memory, so every message and reply is written here before the service ends a turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

Speaker = Literal["customer", "assistant"]


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Entry:
    """One message of a conversation, as a transcript shows it."""

    id: str
    speaker: Speaker
    author: str  # the name shown beside it
    text: str
    # None: when the history receives it, unless the channel already stored the message with its own time
    # (Chainlit nests a turn under the customer's message, and orders a thread by these times).
    created_at: datetime | None = None


class History(Protocol):
    async def conversation_messages(self, conversation_id: str) -> list[tuple[str, str]]:
        """(role, text) of the customer's and assistant's messages, oldest first (memory is rebuilt from it)."""
        ...

    async def record(self, conversation_id: str, entries: Sequence[Entry]) -> None:
        """Write (or rewrite, by id) these messages; raises the store's runtime error when it cannot."""
        ...
