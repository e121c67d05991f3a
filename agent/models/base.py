"""The two-method seam every model sits behind."""

from __future__ import annotations

import re

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable

from agent.models.messages import ModelRequest, ModelResponse, ModelStreamEvent, ResponseComplete, TextChunk


@runtime_checkable
class ChatModel(Protocol):
    name: str

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Return the whole reply at once."""
        ...

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        """Yield text and tool-call chunks, then exactly one `ResponseComplete`."""
        ...


async def stream_text(response: ModelResponse, words: int = 1) -> AsyncIterator[ModelStreamEvent]:
    """Replay a finished response `words` words at a time, as a streaming model would."""
    pieces = re.findall(r"\s*\S+", response.text)
    for start in range(0, len(pieces), words):
        yield TextChunk("".join(pieces[start:start + words]))
    yield ResponseComplete(response)
