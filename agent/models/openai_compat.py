"""Adapter for any OpenAI-compatible chat-completions server.

OpenAI, vLLM, Ollama, LM Studio and llama.cpp's server all speak this wire
format; only `LLM_BASE_URL`, `LLM_MODEL` and `LLM_API_KEY` differ. The SDK's own
retries are switched off so that tenacity's policy (from settings) is the only one.

The SDK sends the request and raises its errors, but the body goes as JSON bytes encoded here and the replies come
back as plain dicts (`post(..., cast_to=object)`): its typed `create` walked every message and tool schema of each
request and built pydantic models for every streamed chunk, over 40% of a turn's time under the GIL at 100 chats.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import openai
from openai import AsyncOpenAI, AsyncStream
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from agent.errors import ModelError
from agent.models.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ModelStreamEvent,
    ResponseComplete,
    TextChunk,
    ToolCall,
    ToolCallChunk,
    Usage,
)
from agent.settings import LLMSettings
from tools.base import ToolSpec

log = logging.getLogger(__name__)

_COMPLETIONS = "/chat/completions"
_TRANSIENT = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError)


def _is_transient(exc: BaseException) -> bool:
    # APITimeoutError subclasses APIConnectionError; any 5xx status is worth another try.
    return isinstance(exc, _TRANSIENT) or (isinstance(exc, openai.APIStatusError) and exc.status_code >= 500)


def _server_asks(state: RetryCallState, limit_s: float) -> float | None:
    """The wait a 429 or 503 asks for in Retry-After (seconds), at most `limit_s`; None when it asks nothing.
    Retrying sooner only earns another refusal, and counts against the server's limit."""
    exc = state.outcome.exception() if state.outcome else None
    response = getattr(exc, "response", None)
    header = response.headers.get("retry-after") if response is not None else None
    try:
        asked = float(header) if header else None
    except ValueError:  # an HTTP date: rare from model servers; the backoff applies
        asked = None
    return None if asked is None else min(max(asked, 0.0), limit_s)


def _model_error(exc: Exception) -> ModelError:
    if isinstance(exc, openai.RateLimitError):
        kind = "rate_limited"
    elif isinstance(exc, openai.APITimeoutError):
        kind = "timeout"
    elif isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
        kind = "auth"
    elif isinstance(exc, openai.APIConnectionError) or _is_transient(exc):
        kind = "unavailable"
    else:
        kind = "bad_response"
    return ModelError(kind, f"{type(exc).__name__}: {exc}")


def to_wire(message: Message) -> dict[str, Any]:
    if message.role == "tool" and message.result is not None:
        # The one place a tool result becomes JSON: the model reads it as the tool message's content.
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.result.for_model()}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    return wire


class OpenAIChatModel:
    def __init__(self, settings: LLMSettings, client: AsyncOpenAI | None = None) -> None:
        self.name = settings.model
        self._settings = settings
        self._client = client or AsyncOpenAI(
            api_key=settings.api_key.get_secret_value() or "not-needed",
            base_url=settings.base_url or None,
            timeout=settings.timeout_s,
            max_retries=0,
        )
        self._declarations: dict[str, tuple[ToolSpec, str]] = {}

    async def ping(self) -> None:
        """Raise unless the endpoint answers and accepts the key (readiness). A server that lists no models
        (404) still serves chat completions, so it counts as up; 401/403 and 5xx do not."""
        try:
            await self._client.with_options(max_retries=0).models.list()
        except openai.NotFoundError:
            return
        except openai.OpenAIError as exc:
            raise _model_error(exc) from exc

    def _body(self, request: ModelRequest, stream: bool) -> bytes:
        """The request as the JSON bytes the SDK sends as they are. The tools' declarations are most of it (~8 KB
        of schemas against a few hundred bytes of a short chat) and never change: each is encoded once."""
        params: dict[str, Any] = {
            "model": self._settings.model,
            "messages": [to_wire(m) for m in request.messages],
            "temperature": self._settings.temperature,
            "max_tokens": self._settings.max_output_tokens,
        }
        if stream:
            params["stream"] = True
        head = json.dumps(params)
        if not request.tools:
            return head.encode()
        tools = ",".join(self._declaration(t) for t in request.tools)
        return f'{head[:-1]}, "tools": [{tools}]}}'.encode()

    def _declaration(self, tool: ToolSpec) -> str:
        known = self._declarations.get(tool.name)
        if known is None or known[0] is not tool:  # a spec is frozen: the same object declares the same
            text = json.dumps({"type": "function", "function": {
                "name": tool.name, "description": tool.description, "parameters": tool.parameters}})
            known = self._declarations[tool.name] = (tool, text)
        return known[1]

    async def _create(self, body: bytes, stream: bool) -> Any:
        backoff = wait_exponential_jitter(initial=self._settings.retry_backoff_s, jitter=self._settings.retry_backoff_s)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._settings.max_retries + 1),
            wait=lambda state: _server_asks(state, self._settings.max_retry_after_s) or backoff(state),
            retry=retry_if_exception(_is_transient),
            before_sleep=lambda state: log.warning(
                "LLM call failed (%s), retry %d", state.outcome.exception(), state.attempt_number
            ),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    if stream:
                        return await self._client.post(_COMPLETIONS, body=body, cast_to=object, stream=True,
                                                       stream_cls=AsyncStream[object])
                    return await self._client.post(_COMPLETIONS, body=body, cast_to=object)
        except openai.OpenAIError as exc:
            raise _model_error(exc) from exc

    async def complete(self, request: ModelRequest) -> ModelResponse:
        result = await self._create(self._body(request, stream=False), stream=False)
        try:
            choice = result["choices"][0]
            message = choice["message"]
            calls = tuple(
                ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"].get("arguments") or "{}")
                for c in message.get("tool_calls") or ()
            )
        except (KeyError, IndexError, TypeError) as exc:
            raise ModelError("bad_response", f"not a chat completion: {exc!r}") from exc
        return ModelResponse(message.get("content") or "", calls, choice.get("finish_reason"), _usage(result))

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        # Only opening the stream is retried: once text has reached the user, a retry would repeat it.
        stream = await self._create(self._body(request, stream=True), stream=True)
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish_reason = None
        usage = None
        try:
            async for chunk in stream:
                usage = _usage(chunk) or usage
                if not chunk.get("choices"):
                    continue
                choice = chunk["choices"][0]
                finish_reason = choice.get("finish_reason") or finish_reason
                delta = choice.get("delta") or {}
                if content := delta.get("content"):
                    text.append(content)
                    yield TextChunk(content)
                for tc in delta.get("tool_calls") or ():
                    index = tc["index"]
                    slot = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
                    function = tc.get("function") or {}
                    name = function.get("name")
                    args = function.get("arguments") or ""
                    slot["id"] = tc.get("id") or slot["id"]
                    slot["name"] = name or slot["name"]
                    slot["arguments"] += args
                    yield ToolCallChunk(index, tc.get("id"), name, args)
        except openai.OpenAIError as exc:
            raise _model_error(exc) from exc
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ModelError("bad_response", f"not a chat completion chunk: {exc!r}") from exc
        finally:
            await stream.close()
        tool_calls = tuple(
            ToolCall(id=s["id"] or f"call_{i}", name=s["name"], arguments=s["arguments"] or "{}")
            for i, s in sorted(calls.items())
        )
        yield ResponseComplete(ModelResponse("".join(text), tool_calls, finish_reason, usage))


def _usage(reply: dict[str, Any]) -> Usage | None:
    usage = reply.get("usage")
    return Usage(usage["prompt_tokens"], usage["completion_tokens"]) if usage else None
