"""The real `chainlit run app.py` process: HTTP routes, and full chat turns over Chainlit's websocket.

The chat tests talk to the server with python-socketio exactly like Chainlit's page does (see
chainlit/socket.py and chainlit/emitter.py): connect with the session auth, emit `connection_successful`,
then `client_message`; the server answers with `task_start`, `stream_start`/`stream_token`,
`new_message`/`update_message`, `element` ... and finally `task_end`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio
from tests.chainlit_server import ChainlitServer, chainlit_server, http_get  # noqa: F401  (fixture)

pytestmark = pytest.mark.server

TURN_TIMEOUT_S = 90.0
SUPPORT_EMAIL = "support@larkspurgoods.example"
COLLECTED_EVENTS = ("task_start", "task_end", "stream_start", "stream_token", "new_message", "update_message", "element")


def test_page_is_served(chainlit_server: ChainlitServer) -> None:
    status, headers, body = http_get(f"{chainlit_server.base_url}/")
    assert status == 200, f"GET / answered {status}\n{chainlit_server.log_tail()}"
    assert "text/html" in headers.get("content-type", headers.get("Content-Type", "")), headers
    assert "<title>Larkspur Assistant</title>" in body, body[:2000]


def test_health(chainlit_server: ChainlitServer) -> None:
    status, _, body = http_get(f"{chainlit_server.base_url}/health")
    assert status == 200, f"GET /health answered {status}: {body}\n{chainlit_server.log_tail()}"
    assert json.loads(body) == {"status": "ok"}


def test_project_settings(chainlit_server: ChainlitServer) -> None:
    status, _, body = http_get(f"{chainlit_server.base_url}/project/settings?language=en-US")
    assert status == 200, f"GET /project/settings answered {status}: {body[:500]}\n{chainlit_server.log_tail()}"
    data = json.loads(body)
    assert data["ui"]["name"] == "Larkspur Assistant"
    profiles = {p["name"]: p for p in data["chatProfiles"]}
    assert list(profiles) == ["Support"], profiles
    assert "Larkspur Goods assistant" in profiles["Support"]["markdown_description"]
    starters = [s["message"] for s in profiles["Support"]["starters"]]
    assert "How long do I have to return an item?" in starters
    assert "Larkspur Goods support" in data["markdown"]  # chainlit.md, shown as the readme


@dataclass
class Turn:
    """What the server sent between `task_start` and `task_end` for one user message."""

    events: list[tuple[str, Any]]
    messages: dict[str, dict] = field(default_factory=dict)  # final step dicts by id, in arrival order
    streamed: dict[str, str] = field(default_factory=dict)  # text assembled from the stream, by message id

    @property
    def elements(self) -> list[dict]:
        return [data for name, data in self.events if name == "element"]

    @property
    def assistant_messages(self) -> list[dict]:
        return [m for m in self.messages.values() if m.get("type") == "assistant_message"]

    @property
    def reply(self) -> dict:
        """The assistant's answer: the streamed assistant message (not an escalation or error note)."""
        streamed = [m for m in self.assistant_messages if m["id"] in self.streamed]
        candidates = streamed or self.assistant_messages
        assert candidates, f"no assistant message in the turn: {self.summary()}"
        return candidates[-1]

    def summary(self) -> str:
        lines = []
        for name, data in self.events:
            if name == "stream_token":
                continue
            brief = {k: data.get(k) for k in ("id", "type", "name", "output", "forId")} if isinstance(data, dict) else data
            lines.append(f"{name}: {brief!r}"[:400])
        return "\n".join(lines)


class ChatClient:
    """A Chainlit webapp session over socket.io, without a browser."""

    def __init__(self, server: ChainlitServer) -> None:
        self.server = server
        self.session_id = str(uuid.uuid4())
        self.sio = socketio.AsyncClient(reconnection=False)
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        for name in COLLECTED_EVENTS:
            self.sio.on(name, self._collector(name))

    def _collector(self, name: str):
        async def handler(data: Any = None) -> None:
            await self.queue.put((name, data))

        return handler

    async def connect(self) -> None:
        await self.sio.connect(
            self.server.base_url,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
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
        turn = self._assemble(events)
        names = [m.get("name") for m in turn.messages.values()]
        assert "on_chat_start" in names, f"on_chat_start did not run:\n{turn.summary()}\n{self.server.log_tail()}"
        errors = [m for m in turn.messages.values() if m.get("isError") or m.get("name") == "Error"]
        assert not errors, f"on_chat_start failed: {errors}\n{self.server.log_tail()}"

    async def _next_event(self, wanted: str, timeout: float) -> list[tuple[str, Any]]:
        seen: list[tuple[str, Any]] = []
        while True:
            name, data = await asyncio.wait_for(self.queue.get(), timeout)
            seen.append((name, data))
            if name == wanted:
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
        events: list[tuple[str, Any]] = []
        try:
            async with asyncio.timeout(TURN_TIMEOUT_S):
                events += await self._next_event("task_start", TURN_TIMEOUT_S)
                events += await self._next_event("task_end", TURN_TIMEOUT_S)
        except TimeoutError:
            turn = self._assemble(events)
            pytest.fail(
                f"no task_end within {TURN_TIMEOUT_S:.0f} s for {text!r}; events so far:\n{turn.summary()}\n"
                f"{self.server.log_tail()}"
            )
        return self._assemble(events)

    @staticmethod
    def _assemble(events: list[tuple[str, Any]]) -> Turn:
        turn = Turn(events)
        for name, data in events:
            if name == "stream_start":
                turn.streamed[data["id"]] = data.get("output") or ""
                turn.messages[data["id"]] = data
            elif name == "stream_token":
                if data.get("isInput"):
                    continue
                if data.get("isSequence"):
                    turn.streamed[data["id"]] = data["token"]
                else:
                    turn.streamed[data["id"]] = turn.streamed.get(data["id"], "") + data["token"]
            elif name in ("new_message", "update_message"):
                turn.messages[data["id"]] = data
        return turn

    async def fetch_element_text(self, element: dict) -> str:
        """The element's content, as the page loads it for the side panel."""
        url = f"{self.server.base_url}/project/file/{element['chainlitKey']}?session_id={self.session_id}"
        status, _, body = await asyncio.to_thread(http_get, url)
        assert status == 200, f"GET {url} answered {status}: {body[:300]}"
        return body

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


async def test_chat_turns_over_websocket(chainlit_server: ChainlitServer) -> None:
    client = ChatClient(chainlit_server)
    try:
        await client.connect()

        # 1. A question the help centre answers: streamed, cited, with the cited passages as side elements.
        turn = await client.ask("How long do I have to return an item?")
        context = f"\nevents:\n{turn.summary()}\n{chainlit_server.log_tail()}"
        reply = turn.reply
        assert reply["id"] in turn.streamed, f"the answer was not streamed{context}"
        streamed = turn.streamed[reply["id"]]
        assert "30 days" in streamed, f"streamed reply: {streamed!r}{context}"
        assert "[1]" in streamed, f"no citation marker in the streamed reply: {streamed!r}{context}"
        final = reply["output"]
        assert final.startswith(streamed), f"final message {final!r} is not the streamed text {streamed!r}"
        assert "Sources:" in final, f"final message: {final!r}{context}"
        assert "30 days" in final and "[1]" in final

        elements = turn.elements
        returns = [e for e in elements if "Returns" in (e.get("name") or "")]
        assert returns, f"no element named after the Returns article: {[e.get('name') for e in elements]}{context}"
        for element in elements:
            assert element["forId"] == reply["id"], f"element {element['name']!r} not attached to the reply"
            assert element["display"] == "side"
            assert element["name"] in final, f"source line does not name element {element['name']!r}: {final!r}"
        assert any(e["name"].startswith("[1] ") for e in elements), "no element for citation [1]"
        passage = await client.fetch_element_text(returns[0])
        assert "30 days" in passage, f"passage of {returns[0]['name']!r}: {passage!r}"

        # 2. Same session, a question the help centre does not cover: no guessing, no sources, a human offered.
        turn = await client.ask("Do you sell cars?")
        context = f"\nevents:\n{turn.summary()}\n{chainlit_server.log_tail()}"
        reply = turn.reply
        text = turn.streamed.get(reply["id"]) or reply["output"]
        final = reply["output"]
        assert "don't know" in text, f"reply: {text!r}{context}"
        assert SUPPORT_EMAIL in final, f"reply does not offer the support email: {final!r}{context}"
        assert "Sources:" not in final, f"an unanswerable question was given sources: {final!r}{context}"
        assert not turn.elements, f"unexpected source elements: {[e.get('name') for e in turn.elements]}{context}"
    finally:
        await client.close()
