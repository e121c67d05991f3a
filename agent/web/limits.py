"""Bad input stopped at Chainlit's doors, before Chainlit stores anything: the socket's messages, and the count of
files attached between two messages (the upload route in agent/web/routes.py asks `AttachmentWindow`).

Chainlit writes a customer's message to the history (and its files as elements) before `on_message` runs, so an
empty or too long message, or one with too many files, is answered here, in place of Chainlit's handler, with a
reply that is shown and not saved. The page enforces the file count itself; the server must too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

import chainlit as cl
from chainlit.context import init_ws_context
from chainlit.session import WebsocketSession

from agent.runner.orchestrator import EMPTY_REPLY, TOO_LONG_REPLY

log = logging.getLogger(__name__)
MEGABYTE = 1024 * 1024
TOO_MANY_FILES = "You can attach up to {limit} files per message. Please send the others in another message."
GUARDED_EVENTS = ("client_message", "edit_message")  # both run `on_message`; the page can't edit, a client can


@dataclass
class _Window:
    sent: set[str]  # ids of session files that went out with (or before) an earlier message
    uploading: int = 0


class AttachmentWindow:
    """Files uploaded in a session since its last message, so the upload route can refuse one too many.

    A file counts from the moment its upload is accepted until the next message (whether or not the message
    names it: the page clears its attachments when it sends), so parallel uploads cannot overshoot the limit.
    """

    def __init__(self, max_files: int) -> None:
        self.max_files = max_files
        self._windows: WeakKeyDictionary[WebsocketSession, _Window] = WeakKeyDictionary()

    def _window(self, session: WebsocketSession) -> _Window:
        return self._windows.setdefault(session, _Window(set()))

    def reserve(self, session: WebsocketSession) -> bool:
        """Claim a place for one more file; False when the message already has its `max_files`."""
        window = self._window(session)
        pending = len(set(session.files) - window.sent) + window.uploading
        if pending >= self.max_files:
            return False
        window.uploading += 1
        return True

    def release(self, session: WebsocketSession) -> None:
        """The upload finished (stored in `session.files`, which counts it from now on) or failed."""
        self._window(session).uploading -= 1

    def message_sent(self, session: WebsocketSession) -> None:
        self._window(session).sent |= set(session.files)

    def too_many(self) -> str:
        return TOO_MANY_FILES.format(limit=self.max_files)


def refusal(payload: Any, max_chars: int, max_files: int) -> str | None:
    """Why a message payload is refused, in the customer's words, or None to let it through."""
    message = payload.get("message") if isinstance(payload, dict) else None
    text = message.get("output") if isinstance(message, dict) else None
    if not isinstance(text, str):
        return None  # not ours to judge: Chainlit's handler answers malformed payloads
    files = payload.get("fileReferences") or []
    if len(files) > max_files:
        return TOO_MANY_FILES.format(limit=max_files)
    stripped = text.strip()
    if not stripped and not files:
        return EMPTY_REPLY
    if len(stripped) > max_chars:
        return TOO_LONG_REPLY.format(length=len(stripped), limit=max_chars)
    return None


def guard_messages(sio: Any, window: AttachmentWindow, *, max_chars: int, max_files: int, max_socket_bytes: int,
                   author: str) -> None:
    """Put the checks in front of Chainlit's message handlers, and let messages up to `max_socket_bytes` arrive.

    engine.io drops the connection, silently, on a message over its buffer (1 MB by default); a bound far above
    `max_chars` lets a too-long message reach the check and get its answer.
    """
    sio.eio.max_http_buffer_size = max_socket_bytes
    for event in GUARDED_EVENTS:
        original = sio.handlers["/"][event]
        sio.on(event, _guarded(original, window, max_chars, max_files, author))


def _guarded(original: Any, window: AttachmentWindow, max_chars: int, max_files: int, author: str) -> Any:
    async def handler(sid: str, payload: Any) -> Any:
        session = WebsocketSession.require(sid)
        window.message_sent(session)
        problem = refusal(payload, max_chars, max_files)
        if problem is None:
            return await original(sid, payload)
        log.info("message refused in session %s: %s", session.id, problem)
        await _reply(session, problem, author)
        return None

    return handler


async def _reply(session: WebsocketSession, text: str, author: str) -> None:
    """Shown on the page as the assistant's answer, sent without Chainlit's `Message.send`, which would save it."""
    context = init_ws_context(session)
    await context.emitter.task_start()
    try:
        await context.emitter.send_step(cl.Message(content=text, author=author).to_dict())
    finally:
        await context.emitter.task_end()
