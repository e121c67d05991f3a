"""The server process's side of observability: a correlation id per HTTP request, and the drain on SIGTERM.

Chainlit runs under uvicorn (`chainlit run` builds a `uvicorn.Server`), whose SIGTERM handler stops the
server at once: it closes every websocket, and a turn still streaming to a customer would be cut off. So
once uvicorn has installed its handlers (they are in place when the app's startup hook runs), SIGTERM is
taken over: the chat service refuses new messages, the running turns get OBSERVABILITY_SHUTDOWN_GRACE_S to
finish (they save their transcript before they end), and then uvicorn's own handler does the rest.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import uuid
from types import FrameType

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent import metrics
from agent.chat.service import ChatService
from agent.logs import log_context

log = logging.getLogger(__name__)
REQUEST_ID_HEADER = "x-request-id"
# A caller's id is kept (a proxy's, to follow one request across services) only when it looks like an id.
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
DRAIN_POLL_S = 0.1  # how often the drain looks whether the running turns are done


class RequestIdMiddleware:
    """Pure ASGI (no buffering, websockets untouched): every log line of a request carries its id, and an HTTP
    response names it in `X-Request-ID`. A websocket's id covers everything its chat session logs; each turn
    adds its own `turn_id` (agent/chat/service.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = given if _VALID_ID.fullmatch(given) else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID_HEADER.encode(), request_id.encode())]
            await send(message)

        with log_context(request_id=request_id):
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)


def drain_on_sigterm(chat: ChatService, grace_s: float) -> None:
    """Call from the app's startup hook (inside uvicorn's signal capture), in the event loop."""
    loop = asyncio.get_running_loop()
    stop_server = signal.getsignal(signal.SIGTERM)  # uvicorn's Server.handle_exit

    def on_sigterm(sig: int, frame: FrameType | None) -> None:
        if chat.draining:
            return  # already draining; the grace period decides
        chat.drain()
        loop.call_soon_threadsafe(lambda: loop.create_task(_drain(chat, grace_s, lambda: _stop(stop_server))))

    signal.signal(signal.SIGTERM, on_sigterm)


async def _drain(chat: ChatService, grace_s: float, stop) -> None:
    log.info("SIGTERM: refusing new messages; waiting up to %.0f s for %d running turn(s)", grace_s, chat.running)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    while chat.running and loop.time() < deadline:
        await asyncio.sleep(DRAIN_POLL_S)
    if chat.running:
        log.warning("shutdown grace of %.0f s over with %d turn(s) still running: stopping anyway",
                    grace_s, chat.running)
    else:
        log.info("every running turn finished: stopping")
    stop()


def _stop(previous: object) -> None:
    if callable(previous):
        previous(signal.SIGTERM, None)
        return
    signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)  # type: ignore[arg-type]
    os.kill(os.getpid(), signal.SIGTERM)


class OpenSessions:
    """Chat sessions connected to this instance, by Chainlit session id: a set, so a repeated hook or a
    disconnect without a start never skews the count (metrics.ACTIVE_CONVERSATIONS reads it at scrape time)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        metrics.ACTIVE_CONVERSATIONS.set_function(lambda: len(self.ids))

    def seen(self, session_id: str) -> None:
        self.ids.add(session_id)

    def gone(self, session_id: str) -> None:
        self.ids.discard(session_id)
