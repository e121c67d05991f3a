"""The customer's side of a live hand-over: while a customer's chat is open, what a human colleague says in the
conversation (and their joining and leaving) shows in it at once, whichever instance the colleague's page is on.

Each open Chainlit session follows its conversation's customer channel from the chat's start, resume or reconnect
until the socket goes away. A session that is away follows nothing, so a reply reaches no listener and the desk
queues a notification (agent/chat/desk.py); the reply itself is in the history, shown when the chat is opened.
What arrives is only shown (`send_step`), never stored again: the desk stored it before publishing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import chainlit as cl
from chainlit.context import init_ws_context
from chainlit.session import WebsocketSession

from agent.sessions.relay import LiveEvent, Relay, customer_channel

SUBSCRIBE_WAIT_S = 5.0  # a chat's start waits this long, at most, for its channel before going on without it
LIVENESS_CHECK_S = 5.0  # how often a quiet listener checks that its customer's socket is still connected


def step_of(event: LiveEvent) -> dict[str, Any]:
    """The message as the page shows it: the human's name, hence their avatar (agent/web/avatars.py)."""
    at = event.at.replace("+00:00", "Z")
    return {
        "id": event.id, "threadId": event.conversation_id, "parentId": None, "name": event.author,
        "type": "assistant_message", "output": event.text, "createdAt": at, "start": at, "end": at,
        "streaming": False, "isError": False, "metadata": {"human": event.kind == "human"},
    }  # fmt: skip


class LiveFeeds:
    def __init__(self, relay: Relay, sio: Any) -> None:
        self.relay = relay
        self.sio = sio  # Chainlit's socket.io server: is a session's socket still connected?
        self.following: dict[str, tuple[str, asyncio.Task[None]]] = {}  # session id -> (conversation, its task)

    async def follow(self) -> None:
        """Follow the current Chainlit session's conversation (idempotent); call it from the session's hooks."""
        session = cl.context.session
        conversation_id = session.thread_id
        current = self.following.get(session.id)
        if current is not None and current[0] == conversation_id and not current[1].done():
            return
        if current is not None:
            current[1].cancel()
        ready = asyncio.Event()
        # The task copies this context: its emitter is this session's, and follows the socket across reconnects.
        task = asyncio.get_running_loop().create_task(self._pump(session, conversation_id, ready))
        self.following[session.id] = (conversation_id, task)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), SUBSCRIBE_WAIT_S)

    def stop(self, session_id: str) -> None:
        """The session's socket is gone: follow nothing, so a human's reply counts it as away."""
        current = self.following.pop(session_id, None)
        if current is not None:
            current[1].cancel()

    async def _pump(self, session: WebsocketSession, conversation_id: str, ready: asyncio.Event) -> None:
        try:
            async with self.relay.listen(customer_channel(conversation_id)) as events:
                ready.set()
                while True:
                    try:
                        event = await asyncio.wait_for(anext(events), LIVENESS_CHECK_S)
                    except TimeoutError:
                        # A socket gone without its disconnect hook (or followed after it ran) must not count as a
                        # customer who is there: the desk would skip their notification.
                        if not self.sio.manager.is_connected(session.socket_id, "/"):
                            return
                        continue
                    await cl.context.emitter.send_step(step_of(event))
        finally:
            if self.following.get(session.id, (None, None))[1] is asyncio.current_task():
                del self.following[session.id]

    def follow_reconnects(self) -> None:
        """Chainlit runs no hook when a socket reconnects to its session: follow again after its own handler."""
        sio = self.sio
        original = sio.handlers["/"]["connection_successful"]

        async def handler(sid: str) -> Any:
            result = await original(sid)
            session = WebsocketSession.get(sid)
            if session is not None and session.restored:
                init_ws_context(sid)
                await self.follow()
            return result

        sio.on("connection_successful", handler)
