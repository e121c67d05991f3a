"""Readiness: can this instance serve a turn now? Each dependency it was configured with is checked.

`/health` says the process is alive; `/ready` (agent/web/routes.py) runs these checks, so a load balancer
stops sending customers to an instance whose database, Redis, Chroma server or model endpoint is down.
A dependency that is not configured (embedded Chroma, in-process sessions, the offline engine) is not checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.models.base import ChatModel
from agent.settings import Settings

log = logging.getLogger(__name__)
Check = Callable[[], Awaitable[None]]


class Readiness:
    def __init__(self, checks: dict[str, Check], timeout_s: float) -> None:
        self.checks = checks
        self.timeout_s = timeout_s

    async def failing(self) -> dict[str, str]:
        """The failing checks' names and what went wrong (an exception class name: no hosts or secrets)."""
        results = await asyncio.gather(*(self._run(name, check) for name, check in self.checks.items()))
        return {name: problem for name, problem in results if problem is not None}

    async def _run(self, name: str, check: Check) -> tuple[str, str | None]:
        try:
            async with asyncio.timeout(self.timeout_s):
                await check()
        except TimeoutError:
            log.warning("readiness: %s did not answer within %.1f s", name, self.timeout_s)
            return name, "timeout"
        except Exception as exc:
            log.warning("readiness: %s failed: %s: %s", name, type(exc).__name__, exc)
            return name, type(exc).__name__
        return name, None


def readiness(settings: Settings, engine: AsyncEngine, model: ChatModel) -> Readiness:
    checks: dict[str, Check] = {"database": lambda: _select_one(engine)}
    if settings.sessions.redis_url:
        from agent.sessions.redis_store import ping

        checks["redis"] = lambda: ping(settings.sessions.redis_url)
    if settings.knowledge.chroma_url:
        from knowledge.chroma_store import heartbeat

        checks["chroma"] = lambda: asyncio.to_thread(heartbeat, settings.knowledge.chroma_url)
    if settings.llm.configured and (ping_model := getattr(model, "ping", None)) is not None:
        checks["model"] = ping_model
    return Readiness(checks, settings.observability.ready_timeout_s)


async def _select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
