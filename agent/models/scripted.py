"""Models driven by Python code, for tests and demos (no network, fully deterministic).

`FunctionModel` calls your function with each request, like pydantic-ai's
FunctionModel. `ScriptedModel` replays a fixed list of replies, like
openai-agents' test model. Both record every request they receive.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from agent.models.base import stream_text
from agent.models.messages import ModelRequest, ModelResponse, ModelStreamEvent
from tools.base import ToolCall

Reply = ModelResponse | str | BaseException
_ids = itertools.count(1)


def tool_call(name: str, arguments: dict[str, Any] | str | None = None) -> ToolCall:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return ToolCall(id=f"call_{next(_ids)}", name=name, arguments=args)


def call_tools(*calls: ToolCall, text: str = "") -> ModelResponse:
    return ModelResponse(text=text, tool_calls=tuple(calls), finish_reason="tool_calls")


def _as_response(reply: Reply) -> ModelResponse:
    if isinstance(reply, BaseException):
        raise reply
    return ModelResponse(text=reply, finish_reason="stop") if isinstance(reply, str) else reply


class FunctionModel:
    def __init__(self, fn: Callable[[ModelRequest], Reply], *, delay_s: float = 0.0, name: str = "function") -> None:
        self.fn = fn
        self.delay_s = delay_s  # pause between streamed words, to exercise cancellation
        self.name = name
        self.requests: list[ModelRequest] = []
        self.closed_streams = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        return _as_response(self.fn(request))

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        self.requests.append(request)
        response = _as_response(self.fn(request))
        try:
            async for event in stream_text(response):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                yield event
        finally:
            self.closed_streams += 1


class ScriptedModel(FunctionModel):
    """Replies in order; fails loudly if the agent asks for more replies than scripted."""

    def __init__(self, replies: Iterable[Reply], **kwargs: Any) -> None:
        self._replies = list(replies)
        super().__init__(self._next, name="scripted", **kwargs)

    def _next(self, request: ModelRequest) -> Reply:
        if not self._replies:
            raise AssertionError("ScriptedModel ran out of replies")
        return self._replies.pop(0)

    @property
    def remaining(self) -> int:
        return len(self._replies)
