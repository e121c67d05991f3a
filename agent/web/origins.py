"""Only this app's pages, and the origins it allows, may open Chainlit's socket from a browser.

Chainlit creates its socket.io server with CORS handling off, so a socket connects from any origin and signs
in with the browser's cookie. With the widget's cookies (SameSite=None, sent on cross-site requests), any web
page a signed-in customer visits could open a socket in their name, resume their conversation and read it:
cross-site WebSocket hijacking. A browser always sends `Origin` on a WebSocket handshake and on socket.io's
polling requests from another origin, so a request whose origin is neither this app's own nor in
config.toml's `allow_origins` (the widget's shop is added there) is refused with 403 before socket.io sees it.
A client that sends no Origin (a script, a server) carries no victim's cookie, and passes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)
REFUSED = "This page may not open a chat connection to this server."


def _same_origin(origin: str, host: str) -> bool:
    """`origin` is this server's own, as the request's Host names it (nginx's `$host` drops the port)."""
    said = urlsplit(origin)
    asked = urlsplit(f"//{host}")
    if not said.hostname or said.hostname != asked.hostname:
        return False
    return asked.port is None or said.port == asked.port or (said.port is None and asked.port in (80, 443))


class SocketOrigins:
    """ASGI middleware guarding the socket path (`path`) against other sites' pages."""

    def __init__(self, app: ASGIApp, path: str, allowed: Callable[[], list[str]]) -> None:
        self.app, self.path, self.allowed = app, path, allowed

    def permits(self, origin: str, host: str) -> bool:
        allowed = [o.rstrip("/") for o in self.allowed()]
        return "*" in allowed or origin.rstrip("/") in allowed or _same_origin(origin, host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("path", "").startswith(self.path):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
            origin = headers.get("origin")
            if origin is not None and not self.permits(origin, headers.get("host", "")):
                log.warning("socket refused for origin %s", origin)
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})  # before accept: the server answers 403
                else:
                    await PlainTextResponse(REFUSED, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)
