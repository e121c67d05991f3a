"""Adapter for any OpenAI-compatible chat-completions server.

OpenAI, vLLM, Ollama, LM Studio and llama.cpp's server all speak this wire format; only `LLM_BASE_URL`,
`LLM_MODEL` and `LLM_API_KEY` differ. tenacity's policy (from settings) is the only retry.

The wire is spoken here, over one pooled aiohttp session, not through the OpenAI SDK. Under 100 chats the event
loop is the bottleneck (one core at 100%), and each streamed request cost it 2.5 ms of CPU through the SDK (its
request options, httpx, httpcore and anyio, an SSE decoder in Python) against ~0.7 ms here, where aiohttp parses
HTTP in C (400 concurrent requests to bench/bench_load.py's fake model). The body is JSON encoded once per request
(each tool's declaration once per spec), replies are read as plain dicts, streamed chunks as `data:` lines of JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
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

OPENAI_URL = "https://api.openai.com/v1"
_DONE = b"[DONE]"
_DATA = b"data:"
_EVENT = b"event:"
# After [DONE], the end of the body is read (briefly) so the connection goes back to the pool instead of closing.
_DRAIN_S = 1.0


class _Refused(Exception):
    """The server answered with an error status (before it becomes a ModelError)."""

    def __init__(self, status: int, retry_after: str | None, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.retry_after = retry_after


def _is_transient(exc: BaseException) -> bool:
    # A 429 or any 5xx, a timeout, a refused or dropped connection: worth another try.
    if isinstance(exc, _Refused):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, (TimeoutError, aiohttp.ClientConnectionError))


def _server_asks(state: RetryCallState, limit_s: float) -> float | None:
    """The wait a 429 or 503 asks for in Retry-After (seconds), at most `limit_s`; None when it asks nothing.
    Retrying sooner only earns another refusal, and counts against the server's limit."""
    exc = state.outcome.exception() if state.outcome else None
    header = exc.retry_after if isinstance(exc, _Refused) else None
    try:
        asked = float(header) if header else None
    except ValueError:  # an HTTP date: rare from model servers; the backoff applies
        asked = None
    return None if asked is None else min(max(asked, 0.0), limit_s)


def _model_error(exc: BaseException) -> ModelError:
    if isinstance(exc, _Refused):
        kind = ("rate_limited" if exc.status == 429 else "auth" if exc.status in (401, 403)
                else "unavailable" if exc.status >= 500 else "bad_response")
    elif isinstance(exc, TimeoutError):  # aiohttp's own timeouts are TimeoutErrors too
        kind = "timeout"
    elif isinstance(exc, aiohttp.ClientError):  # refused, reset, or cut halfway through a stream
        kind = "unavailable"
    elif isinstance(exc, ValueError):  # the request could not be sent as configured (a key with a line break)
        kind = "unavailable"
    else:
        kind = "bad_response"
    return ModelError(kind, f"{type(exc).__name__}: {exc}")


async def _refusal(response: aiohttp.ClientResponse) -> _Refused:
    try:
        body = await response.json(content_type=None)
        error = body.get("error") if isinstance(body, dict) else None  # {"error": {"message": ...}} or a string
        detail = str((error.get("message") if isinstance(error, dict) else error) or body)
    except (ValueError, aiohttp.ClientError):
        detail = response.reason or ""
    return _Refused(response.status, response.headers.get("retry-after"), detail[:300])


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
    def __init__(self, settings: LLMSettings) -> None:
        self.name = settings.model
        self._settings = settings
        self._url = (settings.base_url or OPENAI_URL).rstrip("/")
        key = settings.api_key.get_secret_value().strip()  # a key read from a file often ends with a newline
        self._headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key or 'not-needed'}"}
        # Connecting (a free pooled connection included), and every wait for the next bytes: a stream may last
        # longer than either.
        self._timeout = aiohttp.ClientTimeout(total=None, connect=settings.timeout_s, sock_read=settings.timeout_s)
        self._proxy = proxy_for(self._url)
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._declarations: dict[str, tuple[ToolSpec, str]] = {}

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, inside the loop it serves; a test's next loop gets its own.
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            # trust_env would read ~/.netrc in the default thread pool on every request (busy with this app's
            # work, and a netrc entry would replace the key); the proxy settings are read once instead.
            connector = aiohttp.TCPConnector(limit=self._settings.max_connections,
                                             keepalive_timeout=self._settings.keepalive_s)
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout, connector=connector)
            self._session_loop = loop
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def ping(self) -> None:
        """Raise unless the endpoint answers and accepts the key (readiness). A server that lists no models
        (404) still serves chat completions, so it counts as up; 401/403 and 5xx do not."""
        try:
            async with self._client().get(f"{self._url}/models", proxy=self._proxy) as response:
                if response.status >= 400 and response.status != 404:
                    raise await _refusal(response)
        except (_Refused, TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise _model_error(exc) from exc

    def _body(self, request: ModelRequest, stream: bool) -> bytes:
        """The request as JSON bytes. The tools' declarations are most of it (~8 KB of schemas against a few
        hundred bytes of a short chat) and never change: each is encoded once."""
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

    async def _open(self, body: bytes) -> aiohttp.ClientResponse:
        """The response to the request, its status checked; retried by the settings' policy."""
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
                    response = await self._client().post(f"{self._url}/chat/completions", data=body,
                                                         proxy=self._proxy)
                    if response.status >= 400:
                        async with response:
                            raise await _refusal(response)
                    return response
        except (_Refused, TimeoutError, aiohttp.ClientError, ValueError) as exc:  # ValueError: a bad header
            raise _model_error(exc) from exc
        raise AssertionError("unreachable: tenacity returns or raises")

    async def complete(self, request: ModelRequest) -> ModelResponse:
        response = await self._open(self._body(request, stream=False))
        try:
            async with response:
                result = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _model_error(exc) from exc
        except ValueError as exc:
            raise ModelError("bad_response", f"not JSON: {exc}") from exc
        try:
            choice = result["choices"][0]
            message = choice["message"]
            calls = tuple(
                ToolCall(id=c["id"], name=c["function"]["name"], arguments=c["function"].get("arguments") or "{}")
                for c in message.get("tool_calls") or ()
            )
            return ModelResponse(message.get("content") or "", calls, choice.get("finish_reason"), _usage(result))
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ModelError("bad_response", f"not a chat completion: {exc!r}") from exc

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        # Only opening the stream is retried: once text has reached the user, a retry would repeat it.
        response = await self._open(self._body(request, stream=True))
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        finish_reason = None
        usage = None
        try:
            async with response:
                # The chunks that came in one read go on together: their words as one TextChunk, so a fast server's
                # (or a busy client's) thirty words cost the turn's layers one pass, not thirty.
                async for batch in _events(response):
                    words: list[str] = []
                    for chunk in batch:
                        if (error := chunk.get("error")) is not None:  # the server failed mid-stream (vLLM)
                            if words:
                                yield TextChunk("".join(words))
                            detail = error.get("message") if isinstance(error, dict) else error
                            raise ModelError("bad_response", f"the model server failed mid-stream: {detail}")
                        usage = _usage(chunk) or usage
                        if not chunk.get("choices"):
                            continue
                        choice = chunk["choices"][0]
                        finish_reason = choice.get("finish_reason") or finish_reason
                        delta = choice.get("delta") or {}
                        if content := delta.get("content"):
                            text.append(content)
                            words.append(content)
                        for tc in delta.get("tool_calls") or ():
                            if words:  # in the order the server sent them
                                yield TextChunk("".join(words))
                                words = []
                            yield _call_chunk(tc, calls)
                    if words:
                        yield TextChunk("".join(words))
        except (TimeoutError, aiohttp.ClientError) as exc:  # the connection lost, or silent, halfway
            raise _model_error(exc) from exc
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ModelError("bad_response", f"not a chat completion chunk: {exc!r}") from exc
        tool_calls = tuple(
            ToolCall(id=s["id"] or f"call_{i}", name=s["name"], arguments=s["arguments"] or "{}")
            for i, s in sorted(calls.items())
        )
        yield ResponseComplete(ModelResponse("".join(text), tool_calls, finish_reason, usage))


def _call_chunk(tc: dict[str, Any], calls: dict[int, dict[str, str]]) -> ToolCallChunk:
    """A streamed tool call's piece, added to the call it continues (`calls`, by index)."""
    index = tc["index"]
    slot = calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
    function = tc.get("function") or {}
    name = function.get("name")
    args = function.get("arguments") or ""
    slot["id"] = tc.get("id") or slot["id"]
    slot["name"] = name or slot["name"]
    slot["arguments"] += args
    return ToolCallChunk(index, tc.get("id"), name, args)


def _usage(reply: dict[str, Any]) -> Usage | None:
    usage = reply.get("usage")
    return Usage(usage["prompt_tokens"], usage["completion_tokens"]) if usage else None


async def _events(response: aiohttp.ClientResponse) -> AsyncIterator[list[dict[str, Any]]]:
    """The stream's server-sent events, each event's `data` read as JSON, until `[DONE]` or the end; the events
    completed by one read come as one list. An event named `error` comes as `{"error": data}`; other fields
    (`id:`) and comments (keep-alives) are skipped; an event's several `data:` lines join with newlines."""
    data: list[bytes] = []
    name = b""
    rest = b""
    async for piece in response.content.iter_any():
        *lines, rest = (rest + piece).split(b"\n")
        batch = []
        for line in lines:
            line = line.rstrip(b"\r")
            if line.startswith(_DATA):
                value = line[len(_DATA):]
                data.append(value[1:] if value.startswith(b" ") else value)
            elif line.startswith(_EVENT):
                name = line[len(_EVENT):].strip()
            elif not line and data:  # the blank line that ends an event
                payload, data, named = b"\n".join(data), [], name
                name = b""
                if payload == _DONE:
                    if batch:
                        yield batch
                    await _drain(response)
                    return
                batch.append(_event(payload, named))
            elif not line:
                name = b""
        if batch:
            yield batch
    if rest.startswith(_DATA):  # a last event without its blank line
        data.append(rest[len(_DATA):].lstrip(b" "))
    if data and (payload := b"\n".join(data)) != _DONE:
        yield [_event(payload, name)]


def _event(payload: bytes, name: bytes) -> dict[str, Any]:
    value = json.loads(payload)
    if name == b"error" and not (isinstance(value, dict) and "error" in value):
        return {"error": value}
    return value


async def _drain(response: aiohttp.ClientResponse) -> None:
    """Read what follows [DONE] (the chunked body's end), so the connection can serve the next request."""
    with contextlib.suppress(TimeoutError, aiohttp.ClientError):
        async with asyncio.timeout(_DRAIN_S):
            await response.content.read()


def proxy_for(url: str) -> str | None:
    """The proxy for `url` from HTTP_PROXY / HTTPS_PROXY / NO_PROXY, read once (as the SDK's httpx did)."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)
