"""What the agent remembers of one conversation between turns."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.llm.messages import Message
from knowledge.types import Passage

_MARKER = re.compile(r"\[(\d+)\]")


@dataclass
class Conversation:
    id: str
    user_id: str | None = None
    # Only user messages and final assistant replies: tool traffic lives within its turn.
    messages: list[Message] = field(default_factory=list)

    def add(self, message: Message) -> None:
        self.messages.append(message)

    def window(self, max_messages: int) -> list[Message]:
        return self.messages[-max_messages:]


class SourceBook:
    """Numbers the passages a turn has seen, so replies can cite them as [n]."""

    def __init__(self) -> None:
        self._by_id: dict[str, tuple[int, Passage]] = {}

    def add(self, passages: list[Passage] | tuple[Passage, ...]) -> list[int]:
        refs = []
        for passage in passages:
            if passage.id not in self._by_id:
                self._by_id[passage.id] = (len(self._by_id) + 1, passage)
            refs.append(self._by_id[passage.id][0])
        return refs

    def cited(self, text: str) -> list[tuple[int, Passage]]:
        by_ref = dict(self._by_id.values())
        wanted = sorted({int(n) for n in _MARKER.findall(text)})
        return [(n, by_ref[n]) for n in wanted if n in by_ref]
