"""The chat service's `History`, written into the chat-history tables Chainlit reads (steps of a thread).

An entry becomes the step Chainlit itself would write for the same message (same id, type and fields),
so a page that also persists it only rewrites the same row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent.chat.history import HUMAN, Entry
from agent.datalayer.db import format_ts
from agent.datalayer.store import ChatStore

STEP_TYPES = {"customer": "user_message", "assistant": "assistant_message", "tool": "tool", "human": "assistant_message"}


class StoreHistory:
    def __init__(self, store: ChatStore) -> None:
        self.store = store

    async def conversation_messages(self, conversation_id: str) -> list[tuple[str, str]]:
        return await self.store.conversation_messages(conversation_id)

    async def record(self, conversation_id: str, entries: Sequence[Entry]) -> None:
        if entries:  # one transaction for the action's entries, not one each
            await self.store.upsert_steps([step_of(conversation_id, entry) for entry in entries])


def step_of(conversation_id: str, entry: Entry) -> dict[str, Any]:
    # Only the keys we know: a channel that stored the message first (Chainlit nests a reply under its run,
    # and dates the customer's message itself) keeps the rest, since an upsert rewrites the keys given.
    step: dict[str, Any] = {
        "id": entry.id, "threadId": conversation_id, "name": entry.author, "type": STEP_TYPES[entry.speaker],
        "output": entry.text, "streaming": False, "isError": False,
    }  # fmt: skip
    if entry.speaker == "tool":
        step |= {"input": entry.input or "", "isError": entry.is_error, "showInput": "json"}
    if entry.human:  # who said it: transcripts and analytics tell a colleague from the assistant (the handovers
        step["metadata"] = {HUMAN: True}  # table says which colleague; the step reaches the customer's browser)
    if entry.created_at is not None:
        created = format_ts(entry.created_at)
        step |= {"createdAt": created, "start": created, "end": created}
    return step
