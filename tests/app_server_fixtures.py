"""Shared fixtures and helpers for the tests of the real `chainlit run app.py` process
(tests/test_app_server.py and tests/test_app_server_auth.py).

The app requires sign-in: POST /login (a form) sets the httpOnly `access_token` cookie, which every
/project/* route and the websocket handshake read (chainlit/socket.py takes the token from the Cookie
header only, never from the socket.io `auth` payload).

`ChatClient` talks to the server with python-socketio exactly like Chainlit's page does (see
chainlit/socket.py and chainlit/emitter.py): connect with the cookie and the session auth, emit
`connection_successful`, then `client_message`; the server answers with `task_start`,
`stream_start`/`stream_token`, `new_message`/`update_message`, `element` ... and finally `task_end`.

The fixtures are imported by name into each test module (not a conftest.py), so `chainlit_server` and the
module-scoped sign-ins below run once per test module: one server per module.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
import socketio

from tests.chainlit_server import (  # noqa: F401  (chainlit_server is a fixture, re-exported)
    AUTH_COOKIE,
    CUSTOMER,
    DEMO_PASSWORD,
    LEAD,
    ChainlitServer,
    chainlit_server,
    cookies_set,
    http_get,
    login,
    post_login,
)
from tests.cluster import Turn, assemble

TURN_TIMEOUT_S = 120.0
RETURNS_QUESTION = "How long do I have to return an item?"
SUPPORT_EMAIL = "support@larkspurgoods.example"
COLLECTED_EVENTS = ("task_start", "task_end", "stream_start", "stream_token", "new_message", "update_message", "element")


@pytest.fixture(scope="module")
def dana_sign_in(chainlit_server: ChainlitServer) -> dict[str, str]:
    """The demo customer's sign-in response headers (one sign-in per module: the limit counts every attempt)."""
    status, headers, body = post_login(chainlit_server.base_url, CUSTOMER, DEMO_PASSWORD)
    assert status == 200, f"POST /login as {CUSTOMER} answered {status}: {body[:300]}\n{chainlit_server.log_tail()}"
    return headers


@pytest.fixture(scope="module")
def dana_token(dana_sign_in: dict[str, str]) -> str:
    token = cookies_set(dana_sign_in).get(AUTH_COOKIE)
    assert token, f"no {AUTH_COOKIE} cookie: {dana_sign_in.get('set-cookie')}"
    return token


@pytest.fixture(scope="module")
def lead_token(chainlit_server: ChainlitServer) -> str:
    return login(chainlit_server.base_url, LEAD, DEMO_PASSWORD)


class ChatClient:
    """A Chainlit webapp session over socket.io, without a browser."""

    def __init__(self, server: ChainlitServer, token: str) -> None:
        self.server = server
        self.token = token
        self.session_id = str(uuid.uuid4())
        self.sio = socketio.AsyncClient(reconnection=False)
        self.queue: asyncio.Queue[tuple[float, str, Any]] = asyncio.Queue()
        for name in COLLECTED_EVENTS:
            self.sio.on(name, self._collector(name))

    def _collector(self, name: str):
        async def handler(data: Any = None) -> None:
            await self.queue.put((time.monotonic(), name, data))

        return handler

    async def connect(self) -> None:
        await self.sio.connect(
            self.server.base_url,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            headers={"Cookie": f"{AUTH_COOKIE}={self.token}"},  # the only place Chainlit reads the token
            auth={
                "clientType": "webapp",
                "sessionId": self.session_id,
                "userEnv": "{}",
                "chatProfile": "Support",
            },
            wait_timeout=30,
        )
        await self.sio.emit("connection_successful")
        # connection_successful answers with a bare task_end, then runs on_chat_start as its own task
        # (task_start, the `on_chat_start` run step, task_end). Drain both so they can't end our first turn.
        events = await self._next_event("task_end", timeout=30)
        events += await self._next_event("task_start", timeout=30)
        events += await self._next_event("task_end", timeout=60)
        turn = assemble(events)
        names = [m.get("name") for m in turn.messages.values()]
        assert "on_chat_start" in names, f"on_chat_start did not run:\n{turn.summary()}\n{self.server.log_tail()}"
        errors = [m for m in turn.messages.values() if m.get("isError") or m.get("name") == "Error"]
        assert not errors, f"on_chat_start failed: {errors}\n{self.server.log_tail()}"

    async def _next_event(self, wanted: str, timeout: float) -> list[tuple[float, str, Any]]:
        seen: list[tuple[float, str, Any]] = []
        while True:
            event = await asyncio.wait_for(self.queue.get(), timeout)
            seen.append(event)
            if event[1] == wanted:
                return seen

    async def ask(self, text: str) -> Turn:
        message = {
            "id": str(uuid.uuid4()),
            "threadId": "",
            "name": "User",
            "type": "user_message",
            "output": text,
            "createdAt": "",
        }
        await self.sio.emit("client_message", {"message": message, "fileReferences": None})
        events: list[tuple[float, str, Any]] = []
        try:
            async with asyncio.timeout(TURN_TIMEOUT_S):
                events += await self._next_event("task_start", TURN_TIMEOUT_S)
                events += await self._next_event("task_end", TURN_TIMEOUT_S)
        except TimeoutError:
            turn = assemble(events)
            pytest.fail(
                f"no task_end within {TURN_TIMEOUT_S:.0f} s for {text!r}; events so far:\n{turn.summary()}\n"
                f"{self.server.log_tail()}"
            )
        return assemble(events)

    async def fetch_element_text(self, element: dict) -> str:
        """The element's content, as the page loads it for the side panel."""
        url = f"{self.server.base_url}/project/file/{element['chainlitKey']}?session_id={self.session_id}"
        status, _, body = await asyncio.to_thread(http_get, url, 10.0, self.token)
        assert status == 200, f"GET {url} answered {status}: {body[:300]}"
        return body

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
