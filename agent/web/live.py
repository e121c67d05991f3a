"""Live hand-over in the workspace: take a ticket's conversation over, chat with the customer on a live page, hand
it back. Staff only (the workspace's `staff_only` guard: everyone else gets a 404), every form with the queue's
CSRF token. The work is the desk's (agent/chat/desk.py); this maps it onto HTTP.

- POST /workspace/tickets/{id}/takeover: the lead holds the conversation (and is assigned the ticket); 303 to the
  live page. Someone else holding it: the ticket page says who, with a 409.
- GET  /workspace/tickets/{id}/live: the transcript, the reply box (for the holder only) and the customer panel.
- GET  /workspace/tickets/{id}/live/events: server-sent events: everything said from now on, after a catch-up of
  the stored messages (the page drops what it shows already), so a page served by any instance misses nothing.
- POST /workspace/tickets/{id}/live/messages: the holder's reply; JSON for the page's script, a 303 without it.
- POST /workspace/tickets/{id}/handback: the assistant answers again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chainlit as cl
import orjson
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.responses import StreamingResponse

from agent.chat.desk import HumanDesk
from agent.chat.handovers import HandoverError, HumanMessageRefused, Staff
from agent.chat.history import HUMAN
from agent.datalayer.store import ChatStore
from agent.errors import AgentRuntimeError
from agent.sessions.relay import LiveEvent, Relay, staff_channel
from agent.web.customer_panel import CustomerPanel
from agent.web.pages import page_headers, render
from agent.web.queue import BAD_TOKEN, STORE_DOWN, csrf_ok, csrf_token, ticket_view
from agent.web.routes import NOT_FOUND
from tools.errors import TicketNotFound, TransientToolError
from tools.store.tickets import TicketQueue, TicketRow

log = logging.getLogger(__name__)
SCRIPT = Path(__file__).resolve().parent / "static" / "live.js"
MESSAGE_TYPES = {"user_message": "customer", "assistant_message": "assistant"}
MAX_FORM_CHARS = 1_000_000  # a form field's bound before the desk's own length check says "too long" in words
SOLVED_TICKET = "This ticket is solved: reopen it before taking the conversation over."


@dataclass(frozen=True)
class LiveParts:
    """What the workspace needs for live hand-over (app.py builds it from the services)."""

    desk: HumanDesk
    relay: Relay
    panel: CustomerPanel
    heartbeat_s: float
    stopping: Callable[[], bool] = lambda: False  # the instance drains: open event streams end (pages reconnect)


def staff_of(user: cl.User) -> Staff:
    return Staff(user.identifier, user.display_name or user.identifier)


def _sse(event: dict[str, Any]) -> bytes:
    return b"event: message\ndata: " + orjson.dumps(event) + b"\n\n"


def message_view(step: dict[str, Any]) -> dict[str, Any] | None:
    """A stored step as the live page shows it (customer, assistant or human messages only)."""
    kind = MESSAGE_TYPES.get(step.get("type") or "")
    if kind is None or not (step.get("output") or "").strip():
        return None
    human = kind == "assistant" and bool((step.get("metadata") or {}).get(HUMAN))
    return {"id": step["id"], "kind": "human" if human else kind, "author": step.get("name") or "",
            "text": step["output"], "at": step.get("createdAt") or ""}  # fmt: skip


def event_view(event: LiveEvent) -> dict[str, Any]:
    return {"id": event.id, "kind": event.kind, "author": event.author, "text": event.text, "at": event.at}


def live_routes(parts: LiveParts, history: ChatStore, queue: TicketQueue,
                staff_only: Callable[..., Any]) -> APIRouter:  # fmt: skip
    desk, panel = parts.desk, parts.panel
    router = APIRouter()

    async def ticket_or_404(ticket_id: str) -> TicketRow:
        try:
            return (await queue.get(ticket_id)).ticket
        except TicketNotFound:
            raise HTTPException(status_code=404, detail=NOT_FOUND) from None

    async def guarded(user: cl.User, token: str, action: Callable[[], Awaitable[Response]]) -> Response:
        if not csrf_ok(user.identifier, token):
            return PlainTextResponse(BAD_TOKEN, status_code=403, headers=page_headers())
        try:
            return await action()
        except TransientToolError:
            return PlainTextResponse(STORE_DOWN, status_code=503, headers=page_headers())
        except AgentRuntimeError as exc:  # the chat history or Redis is down: the lead is told to try again
            log.error("live hand-over action by %s failed: %s", user.identifier, exc)
            return PlainTextResponse(exc.user_message, status_code=503, headers=page_headers())

    @router.get("/workspace/static/live.js", include_in_schema=False)
    async def live_script(user: cl.User = Depends(staff_only)) -> FileResponse:
        return FileResponse(SCRIPT, media_type="text/javascript", headers={"Cache-Control": "private, no-cache"})

    @router.post("/workspace/tickets/{ticket_id}/takeover", include_in_schema=False)
    async def take_over(ticket_id: str, user: cl.User = Depends(staff_only), csrf: str = Form("")) -> Response:
        async def act() -> Response:
            ticket = await ticket_or_404(ticket_id)
            if ticket.status == "solved":
                return await live_page(user, ticket, status_code=409, error=SOLVED_TICKET)
            try:
                await desk.take_over(ticket.conversation_id, ticket.id, ticket.created_at, staff_of(user))
            except HandoverError as exc:
                return await live_page(user, ticket, status_code=409, error=exc.user_message)
            if ticket.assignee != user.identifier:  # the one who writes to the customer is the one who works it
                try:
                    await queue.assign(ticket.id, user.identifier, user.identifier)
                except TransientToolError:  # the hand-over is live already: the lead works on, the page says so
                    log.error("ticket %s taken over by %s but not assigned to them", ticket.id, user.identifier)
            return RedirectResponse(f"/workspace/tickets/{ticket_id}/live", status_code=303)

        return await guarded(user, csrf, act)

    @router.get("/workspace/tickets/{ticket_id}/live", include_in_schema=False)
    async def live_page_route(ticket_id: str, user: cl.User = Depends(staff_only)) -> Response:
        try:
            return await live_page(user, await ticket_or_404(ticket_id))
        except TransientToolError:
            return PlainTextResponse(STORE_DOWN, status_code=503, headers=page_headers())
        except AgentRuntimeError as exc:
            log.error("live page of ticket %s not shown: %s", ticket_id, exc)
            return PlainTextResponse(exc.user_message, status_code=503, headers=page_headers())

    async def live_page(user: cl.User, ticket: TicketRow, status_code: int = 200, error: str | None = None) -> Response:
        held = await desk.holder(ticket.conversation_id)
        thread = await history.get_thread(ticket.conversation_id) or {"steps": []}
        messages = [view for step in thread["steps"] if (view := message_view(step))]
        nonce = secrets.token_urlsafe(16)
        return render(
            "live.html", status_code=status_code, headers=page_headers(nonce, connect=True), user=user, error=error,
            ticket=ticket_view(ticket, user.identifier, datetime.now(UTC).replace(tzinfo=None)),
            held=held, mine=held is not None and held.staff.identifier == user.identifier,
            messages=messages, csrf=csrf_token(user.identifier), nonce=nonce, max_chars=desk.max_chars,
            customer=await panel.show(ticket.conversation_id, ticket.customer_id),
        )  # fmt: skip

    @router.get("/workspace/tickets/{ticket_id}/live/events", include_in_schema=False)
    async def live_events(ticket_id: str, request: Request, user: cl.User = Depends(staff_only)) -> Response:
        ticket = await ticket_or_404(ticket_id)
        return StreamingResponse(_stream(request, parts, history, ticket.conversation_id),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # fmt: skip

    @router.post("/workspace/tickets/{ticket_id}/live/messages", include_in_schema=False)
    async def reply(ticket_id: str, request: Request, user: cl.User = Depends(staff_only), csrf: str = Form(""),
                    text: str = Form("", max_length=MAX_FORM_CHARS)) -> Response:  # fmt: skip
        wants_json = "application/json" in request.headers.get("accept", "")

        async def act() -> Response:
            ticket = await ticket_or_404(ticket_id)
            try:
                event = await desk.reply(ticket.conversation_id, staff_of(user), text)
            except HumanMessageRefused as exc:
                return _refused(exc.user_message, exc.status, wants_json)
            except HandoverError as exc:
                return _refused(exc.user_message, 409, wants_json)
            if wants_json:
                return JSONResponse(event_view(event))
            return RedirectResponse(f"/workspace/tickets/{ticket_id}/live", status_code=303)

        return await guarded(user, csrf, act)

    @router.post("/workspace/tickets/{ticket_id}/handback", include_in_schema=False)
    async def hand_back(ticket_id: str, user: cl.User = Depends(staff_only), csrf: str = Form("")) -> Response:
        async def act() -> Response:
            ticket = await ticket_or_404(ticket_id)
            try:
                await desk.hand_back(ticket.conversation_id, staff_of(user))
            except HandoverError as exc:
                return await live_page(user, ticket, status_code=409, error=exc.user_message)
            return RedirectResponse(f"/workspace/tickets/{ticket_id}", status_code=303)

        return await guarded(user, csrf, act)

    return router


def _refused(message: str, status: int, wants_json: bool) -> Response:
    if wants_json:
        return JSONResponse({"detail": message}, status_code=status)
    return PlainTextResponse(message, status_code=status, headers=page_headers())


async def _stream(request: Request, live: LiveParts, history: ChatStore, conversation_id: str) -> AsyncIterator[bytes]:
    """Listen first, then send what is stored: nothing said in between is missed (the page drops repeats). Ends
    when the page goes, or when the instance stops (uvicorn would wait for the stream; the page reconnects to
    another instance and catches up)."""
    async with live.relay.listen(staff_channel(conversation_id)) as events:
        thread = await history.get_thread(conversation_id) or {"steps": []}
        for step in thread["steps"]:
            if view := message_view(step):
                yield _sse(view)
        while True:
            try:
                event = await asyncio.wait_for(anext(events), live.heartbeat_s)
            except TimeoutError:
                if live.stopping() or await request.is_disconnected():
                    return
                yield b": keep-alive\n\n"  # also how a proxy's idle timeout is kept away
                continue
            yield _sse(event_view(event))
