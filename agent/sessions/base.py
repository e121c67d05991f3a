"""The seams for state shared by every instance: session state, per-conversation locks, rate limits."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

State = dict[str, Any]  # JSON-serialisable
Updater = Callable[[State | None], State]


class SessionStore(Protocol):
    async def get(self, session_id: str) -> State | None: ...

    async def update(self, session_id: str, fn: Updater) -> State:
        """Atomically replace the state with `fn(current)`; `fn` may run again if another writer wins."""
        ...

    async def delete(self, session_id: str) -> None: ...

    async def touch(self, session_id: str) -> bool:
        """Restart the state's time to live; False when there is no state."""
        ...

    def lock(self, session_id: str) -> AbstractAsyncContextManager[None]:
        """Exclusive per conversation, across instances: one turn at a time."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: float = 0.0


class RateLimiter(Protocol):
    async def hit(self, key: str) -> Decision: ...
