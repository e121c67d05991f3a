"""The registry: which tools the model may call, and the safety net around each call."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterable
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from tools.base import Tool, ToolCall, ToolContext, ToolResult, ToolSpec
from tools.errors import ToolDefinitionError, ToolFailure, TransientToolError
from tools.resilience import CircuitBreaker
from tools.settings import ToolSettings

log = logging.getLogger(__name__)

_RETRYABLE = (TransientToolError, TimeoutError, ConnectionError)
_UNAVAILABLE = "This service is temporarily unavailable. Please try again in a few minutes."


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool], settings: ToolSettings) -> None:
        self.settings = settings
        self._tools: dict[str, Tool] = {}
        for t in tools:
            if t.name in self._tools:
                raise ToolDefinitionError(f"two tools are named {t.name!r}")
            self._tools[t.name] = t
        self._breakers: dict[str, CircuitBreaker] = {}

    @classmethod
    def from_settings(cls, available: Iterable[Tool], settings: ToolSettings) -> ToolRegistry:
        """Every tool, or those named in `TOOLS_ENABLED`; an unknown name there is a configuration mistake."""
        catalog = {t.name: t for t in available}
        if not settings.enabled:
            return cls(catalog.values(), settings)
        unknown = [name for name in settings.enabled if name not in catalog]
        if unknown:
            raise ToolDefinitionError(f"TOOLS_ENABLED names unknown tools {unknown}; known: {sorted(catalog)}")
        return cls([catalog[name] for name in settings.enabled], settings)

    def __contains__(self, name: str) -> bool:
        return name in self._tools

    def spec(self, name: str) -> ToolSpec | None:
        """What the tool `name` declared about itself (None for a name the model made up)."""
        tool = self._tools.get(name)
        return tool.spec if tool else None

    def specs(self) -> list[ToolSpec]:
        return [t.spec for t in self._tools.values()]

    def breaker(self, backend: str) -> CircuitBreaker:
        if backend not in self._breakers:
            self._breakers[backend] = CircuitBreaker(
                backend, self.settings.breaker_failure_threshold, self.settings.breaker_reset_s
            )
        return self._breakers[backend]

    def health(self) -> dict[str, str]:
        """Every backend's circuit state, including those no call has touched yet (closed)."""
        return {backend: self.breaker(backend).state for backend in sorted({t.backend for t in self._tools.values()})}

    async def run(self, call: ToolCall, ctx: ToolContext) -> ToolResult:
        tool = self._tools.get(call.name)
        if tool is None:
            return ToolResult.fail("invalid", f"There is no tool named {call.name!r}. Available: {sorted(self._tools)}.")
        args = tool.parse(call.arguments)
        if isinstance(args, ToolResult):
            return args
        breaker = self.breaker(tool.backend)
        if not breaker.allow():
            return ToolResult.fail("unavailable", _UNAVAILABLE)
        try:
            # Field by field, not model_dump(): nested pydantic arguments stay models.
            kwargs = {name: getattr(args, name) for name in type(args).model_fields}
            result = await self._call_with_retries(tool, ctx, kwargs)
        except ToolFailure as exc:
            breaker.record_success()  # the backend answered; the request was wrong
            return ToolResult.fail(exc.kind, exc.message)
        except Exception:
            log.exception("tool %s failed (conversation %s)", tool.name, ctx.conversation_id)
            breaker.record_failure()
            return ToolResult.fail("unavailable", _UNAVAILABLE)
        breaker.record_success()
        return result if isinstance(result, ToolResult) else ToolResult.success(result)

    async def _call_with_retries(self, tool: Tool, ctx: ToolContext, kwargs: dict[str, Any]) -> Any:
        attempts = self.settings.retry_attempts if tool.retried else 1
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(initial=self.settings.retry_backoff_s, jitter=self.settings.retry_backoff_s),
            retry=retry_if_exception_type(_RETRYABLE),
            reraise=True,
        )
        return await retrying(self._call_once, tool, ctx, kwargs)

    async def _call_once(self, tool: Tool, ctx: ToolContext, kwargs: dict[str, Any]) -> Any:
        args = (ctx,) if tool.takes_context else ()
        async with asyncio.timeout(self.settings.timeout_s):
            if inspect.iscoroutinefunction(tool.fn):
                return await tool.fn(*args, **kwargs)
            return await asyncio.to_thread(tool.fn, *args, **kwargs)
