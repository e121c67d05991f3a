"""Adapter for any OpenAI-compatible chat-completions server.

OpenAI, vLLM, Ollama, LM Studio and llama.cpp's server all speak this wire
format; only `LLM_BASE_URL`, `LLM_MODEL` and `LLM_API_KEY` differ. The SDK's own
retries are switched off so that tenacity's policy (from settings) is the only one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import openai
from openai import AsyncOpenAI
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

log = logging.getLogger(__name__)

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

    async def ping(self) -> None:
        """Raise unless the endpoint answers and accepts the key (readiness). A server that lists no models
        (404) still serves chat completions, so it counts as up; 401/403 and 5xx do not."""
        try:
            await self._client.with_options(max_retries=0).models.list()
        except openai.NotFoundError:
            return
        except openai.OpenAIError as exc:
            raise _model_error(exc) from exc

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self._settings.model,
            "messages": [to_wire(m) for m in request.messages],
            "temperature": self._settings.temperature,
            "max_tokens": self._settings.max_output_tokens,
        }
        if request.tools:
            params["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in request.tools
            ]
        return params

    async def _create(self, params: dict[str, Any]) -> Any:
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
                    return await self._client.chat.completions.create(**params)
        except openai.OpenAIError as exc:
            raise _model_error(exc) from exc

    async def complete(self, request: ModelRequest) -> ModelResponse:
        params = self._params(request)
        result = await self._create(params)
        if not result.choices:
            raise ModelError("bad_response", "no choices in completion")
        choice = result.choices[0]
        calls = tuple(
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments or "{}")
            for c in choice.message.tool_calls or ()
        )
        usage = Usage(result.usage.prompt_tokens, result.usage.completion_tokens) if result.usage else None
        return ModelResponse(choice.message.content or "", calls, choice.finish_reason, usage)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        params = self._params(request) | {"stream": True}
        # Only opening the stream is retried: once text has reached the user, a retry would repeat it.
        stream = await self._create(params)
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish_reason = None
        usage = None
        try:
            async for chunk in stream:
                if chunk.usage:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                finish_reason = choice.finish_reason or finish_reason
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                    yield TextChunk(delta.content)
                for tc in delta.tool_calls or ():
                    slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    name = tc.function.name if tc.function else None
                    args = (tc.function.arguments if tc.function else None) or ""
                    slot["id"] = tc.id or slot["id"]
                    slot["name"] = name or slot["name"]
                    slot["arguments"] += args
                    yield ToolCallChunk(tc.index, tc.id, name, args)
        except openai.OpenAIError as exc:
            raise _model_error(exc) from exc
        finally:
            await stream.close()
        tool_calls = tuple(
            ToolCall(id=s["id"] or f"call_{i}", name=s["name"], arguments=s["arguments"] or "{}")
            for i, s in sorted(calls.items())
        )
        yield ResponseComplete(ModelResponse("".join(text), tool_calls, finish_reason, usage))
