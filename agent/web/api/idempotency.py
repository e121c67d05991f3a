"""`Idempotency-Key`: a retried POST gets the first result back, never a second turn.

Results are kept in the session store (Redis across instances), per caller and key, for the session's time to
live. The key's lock is held while the first request runs, so a retry that arrives meanwhile waits for it and
replays it. The same key with a different request is refused (422), as payment APIs do.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from agent.sessions.base import SessionStore
from agent.sessions.errors import LockTimeout, SessionError
from agent.web.api.problems import ApiProblem

MAX_KEY_CHARS = 255  # checked by the routes' header declaration, so the schema says it too
STILL_RUNNING = "A request with this Idempotency-Key is still running. Retry in a moment to get its result."
REUSED = "This Idempotency-Key was used for a different request. Use a new key for a new request."


@dataclass
class Claim:
    """What the first request with this key answered (None while it is the first), and where to keep its answer."""

    store: SessionStore
    key: str
    fingerprint: str
    prior: dict[str, Any] | None

    async def keep(self, status_code: int, body: dict[str, Any]) -> None:
        state = {"fingerprint": self.fingerprint, "status_code": status_code, "body": body}
        await self.store.update(self.key, lambda _current: state)


class Idempotency:
    def __init__(self, store: SessionStore) -> None:
        self.store = store

    @asynccontextmanager
    async def claim(self, caller: str, key: str | None, request: str) -> AsyncIterator[Claim | None]:
        """None without a key; else the claim, under the key's lock until the block ends."""
        if key is None:
            yield None
            return
        name = "idem:" + hashlib.sha256(f"{caller}\x00{key}".encode()).hexdigest()
        fingerprint = hashlib.sha256(request.encode()).hexdigest()
        try:
            async with self.store.lock(name):
                prior = await self.store.get(name)
                if prior is not None and prior.get("fingerprint") != fingerprint:
                    raise ApiProblem(422, REUSED, kind="idempotency-key-reused")
                yield Claim(self.store, name, fingerprint, prior)
        except LockTimeout:
            raise ApiProblem(409, STILL_RUNNING, kind="idempotency-key-in-use") from None
        except SessionError as exc:
            raise ApiProblem(503, exc.user_message) from exc
