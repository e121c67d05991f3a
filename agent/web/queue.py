"""The escalation queue in the workspace: /workspace/tickets (open and pending tickets, oldest first), one ticket's
page with its notes and history, the lead's actions on it, and a CSV download of the list.

Staff only, through the workspace's `staff_only` guard (agent/web/workspace.py includes these routes): everyone
else gets a 404. Actions are plain form posts answered with a 303 back to the ticket; each carries a token, an
HMAC of the lead's identifier under the app's sign-in secret (CHAINLIT_AUTH_SECRET), so another site cannot post
on a lead's behalf: a missing or wrong token is a 403. The tickets live in the store's database
(tools/store/tickets.py does the work and keeps the who-and-when history); a status change is copied to the
conversation's facts in the chat history (`ChatStore.ticket_changed`) for the conversation list and analytics.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import urllib.parse
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import chainlit as cl
from chainlit.auth import get_jwt_secret
from fastapi import APIRouter, Depends, Form, HTTPException, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from agent.chat.desk import HumanDesk
from agent.errors import AgentRuntimeError
from agent.datalayer.store import ChatStore
from agent.web.csv_export import csv_response
from agent.web.pages import HEADERS, BadInput, render
from agent.web.routes import NOT_FOUND
from tools.errors import InvalidTicketCursor, TicketChangeRefused, TicketNotFound, TransientToolError
from tools.store.db import StoreDatabase
from tools.store.models import TICKET_STATUSES
from tools.store.tickets import (
    MAX_NOTE_CHARS,
    QUEUE_STATUSES,
    TicketEventRow,
    TicketFilters,
    TicketQueue,
    TicketRow,
)  # fmt: skip

log = logging.getLogger(__name__)
PAGE_SIZE = 50
SUMMARY_CHARS = 140  # of the summary in a queue row; the ticket's page shows all of it
# The status filter's choices: the queue (what still needs a person), one status, or every ticket.
STATUS_VIEWS: dict[str, tuple[str, ...]] = {
    "queue": QUEUE_STATUSES, **{status: (status,) for status in TICKET_STATUSES}, "all": TICKET_STATUSES,
}
ASSIGNED_VIEWS = ("anyone", "me", "unassigned")
MOVE_LABELS = {"open": "Back to open", "pending": "Mark pending", "solved": "Mark solved"}
REOPEN = "Reopen"  # solved -> open
CSRF_PURPOSE = b"workspace-ticket-form\x00"  # keeps this HMAC apart from any other use of the secret
BAD_TOKEN = "This form is out of date or did not come from the workspace. Go back, reload the page and try again."
HELD_TICKET = "{name} is chatting with the customer: the ticket stays theirs until they hand the chat back."
STORE_DOWN = "The ticket store is not answering just now. Please try again in a moment."
CSV_HEADER = ("ticket id", "status", "created (UTC)", "updated (UTC)", "reason", "customer id", "customer name",
              "customer email", "assignee", "conversation id", "summary")  # fmt: skip

def csrf_token(identifier: str, secret: str | None = None) -> str:
    """The token a lead's forms carry: the same on every page for one lead and one secret."""
    key = (secret if secret is not None else get_jwt_secret()) or ""
    return hmac.new(key.encode(), CSRF_PURPOSE + identifier.encode(), hashlib.sha256).hexdigest()


def csrf_ok(identifier: str, token: str, secret: str | None = None) -> bool:
    key = secret if secret is not None else get_jwt_secret()
    return bool(key and token) and hmac.compare_digest(csrf_token(identifier, key), token)


def parse_filters(status: str, assigned: str, reason: str, me: str) -> TicketFilters:
    """The queue's query parameters as filters; `me` is the signed-in lead's identifier."""
    if (status or "queue") not in STATUS_VIEWS:
        raise BadInput("“Status” must be queue, open, pending, solved or all.")
    if (assigned or "anyone") not in ASSIGNED_VIEWS:
        raise BadInput("“Assigned to” must be anyone, me or unassigned.")
    return TicketFilters(statuses=STATUS_VIEWS[status or "queue"], assignee=me if assigned == "me" else None,
                         unassigned=assigned == "unassigned", reason=reason.strip() or None)  # fmt: skip


def age(since: datetime, now: datetime) -> str:
    """How long ago, in the largest whole unit a lead reads at a glance: 12 min, 5 h, 3 d."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


def _shorten(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _quoted(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _when(moment: datetime) -> dict[str, str]:
    return {"text": moment.strftime("%Y-%m-%d %H:%M"), "iso": moment.isoformat(timespec="seconds") + "Z"}


def _person(identifier: str | None, me: str) -> str:
    if identifier is None:
        return "nobody"
    return "you" if identifier == me else identifier


def ticket_view(row: TicketRow, me: str, now: datetime) -> dict[str, Any]:
    customer = row.customer_name or row.customer_id
    return {
        "id": row.id, "status": row.status, "reason": row.reason, "summary": row.summary,
        "short_summary": _shorten(row.summary), "age": age(row.created_at, now), "created": _when(row.created_at),
        "updated": _when(row.updated_at), "customer": customer or "not identified",
        "customer_detail": row.customer_email or (row.customer_id if row.customer_name else None),
        "assignee": row.assignee, "assignee_label": "You" if row.assignee == me else (row.assignee or "Unassigned"),
        "mine": row.assignee == me, "url": "/workspace/tickets/" + _quoted(row.id),
        "transcript": "/share/" + _quoted(row.conversation_id), "conversation_id": row.conversation_id,
        "moves": [(status, REOPEN if row.status == "solved" else MOVE_LABELS[status]) for status in row.moves],
    }  # fmt: skip


def event_view(event: TicketEventRow, me: str) -> dict[str, Any]:
    """One line of the history, in words: who did what."""
    who = "The assistant" if event.actor == "assistant" else ("You" if event.actor == me else event.actor)
    if event.kind == "created":
        what = "handed the conversation over: ticket opened"
    elif event.kind == "assigned" and event.to_value is None:
        what = f"unassigned it (it was {_person(event.from_value, me)}’s)"
    elif event.kind == "assigned":
        what = "took it" if event.to_value == event.actor else f"assigned it to {_person(event.to_value, me)}"
    elif event.kind == "status":
        what = f"moved it from {event.from_value} to {event.to_value}"
    else:
        what = "added a note"
    return {"who": who, "what": what, "kind": event.kind, "note": event.note, "at": _when(event.at)}


def _csv_cells(row: TicketRow) -> tuple[object, ...]:
    return (row.id, row.status, row.created_at, row.updated_at, row.reason, row.customer_id, row.customer_name,
            row.customer_email, row.assignee, row.conversation_id, row.summary)  # fmt: skip


def queue_routes(history: ChatStore, store: StoreDatabase, staff_only: Callable[..., Any],
                 desk: HumanDesk | None = None) -> APIRouter:
    """The queue's routes, guarded by the workspace's `staff_only` dependency; with `desk`, live hand-over."""
    router = APIRouter()
    queue = TicketQueue(store)
    _list_routes(router, queue, staff_only)
    _ticket_routes(router, queue, history, staff_only, desk)
    return router


def _filter_query(status: str, assigned: str, reason: str) -> dict[str, str]:
    form = {"status": status, "assigned": assigned, "reason": reason}
    return {key: value for key, value in form.items() if value}


def _list_routes(router: APIRouter, queue: TicketQueue, staff_only: Callable[..., Any]) -> None:
    @router.get("/workspace/tickets", include_in_schema=False)
    async def ticket_list(
        user: cl.User = Depends(staff_only),
        status: str = Query("", max_length=20),
        assigned: str = Query("", max_length=20),
        reason: str = Query("", max_length=255),
        cursor: str = Query("", max_length=2000),
    ) -> HTMLResponse:
        query = _filter_query(status, assigned, reason)
        context: dict[str, Any] = {
            "user": user, "form": {"status": status or "queue", "assigned": assigned or "anyone", "reason": reason},
            "status_views": list(STATUS_VIEWS), "assigned_views": ASSIGNED_VIEWS, "reasons": [], "rows": [],
            "next_url": None, "first_url": None, "error": None,
            "csv_url": "/workspace/tickets.csv" + ("?" + urllib.parse.urlencode(query) if query else ""),
        }  # fmt: skip
        try:
            filters = parse_filters(status, assigned, reason, user.identifier)
            context["reasons"] = await queue.reasons()
            page = await queue.page(filters, PAGE_SIZE, cursor or None)
        except (BadInput, InvalidTicketCursor) as exc:
            context["error"] = str(exc) if isinstance(exc, BadInput) else "That page link is no longer valid."
            return render("queue.html", status_code=400, **context)
        except TransientToolError:
            context["error"] = STORE_DOWN
            return render("queue.html", status_code=503, **context)
        now = datetime.now(UTC).replace(tzinfo=None)
        context["rows"] = [ticket_view(row, user.identifier, now) for row in page.rows]
        if page.next_cursor is not None:
            context["next_url"] = "?" + urllib.parse.urlencode(query | {"cursor": page.next_cursor.encode()})
        if cursor:
            context["first_url"] = "?" + urllib.parse.urlencode(query) if query else "/workspace/tickets"
        return render("queue.html", **context)

    @router.get("/workspace/tickets.csv", include_in_schema=False)
    async def ticket_csv(
        user: cl.User = Depends(staff_only),
        status: str = Query("", max_length=20),
        assigned: str = Query("", max_length=20),
        reason: str = Query("", max_length=255),
    ) -> Response:
        """Every ticket the filters match, oldest first, read a batch at a time while the download streams."""
        try:
            filters = parse_filters(status, assigned, reason, user.identifier)
        except BadInput as exc:
            return PlainTextResponse(str(exc), status_code=400, headers=HEADERS)

        async def cells() -> AsyncIterator[tuple[object, ...]]:
            async for row in queue.export(filters):
                yield _csv_cells(row)

        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return csv_response(f"tickets-{stamp}.csv", CSV_HEADER, cells(), headers=HEADERS)


def _ticket_routes(router: APIRouter, queue: TicketQueue, history: ChatStore, staff_only: Callable[..., Any],
                   desk: HumanDesk | None) -> None:
    async def page(user: cl.User, ticket_id: str, status_code: int = 200, error: str | None = None) -> HTMLResponse:
        try:
            detail = await queue.get(ticket_id)
        except TicketNotFound:
            raise HTTPException(status_code=404, detail=NOT_FOUND) from None
        now = datetime.now(UTC).replace(tzinfo=None)
        me = user.identifier
        held = await desk.holder(detail.ticket.conversation_id) if desk is not None else None
        return render("ticket.html", status_code=status_code, user=user, error=error, max_note=MAX_NOTE_CHARS,
                      ticket=ticket_view(detail.ticket, me, now), csrf=csrf_token(me), live=desk is not None,
                      held=held,
                      events=[event_view(event, me) for event in reversed(detail.events)])  # fmt: skip

    async def act(user: cl.User, ticket_id: str, token: str, change: Callable[[], Any]) -> Response:
        """Check the form's token, make the change, and go back to the ticket (or show why not)."""
        if not csrf_ok(user.identifier, token):
            return PlainTextResponse(BAD_TOKEN, status_code=403, headers=HEADERS)
        try:
            await change()
        except TicketNotFound:
            raise HTTPException(status_code=404, detail=NOT_FOUND) from None
        except TicketChangeRefused as exc:
            return await page(user, ticket_id, status_code=409, error=exc.message)
        except TransientToolError:
            return await page(user, ticket_id, status_code=503, error=STORE_DOWN)
        target = "/workspace/tickets/" + _quoted(ticket_id)
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})

    @router.get("/workspace/tickets/{ticket_id}", include_in_schema=False)
    async def ticket_page(ticket_id: str, user: cl.User = Depends(staff_only)) -> HTMLResponse:
        return await page(user, ticket_id)

    @router.post("/workspace/tickets/{ticket_id}/assign", include_in_schema=False)
    async def assign(ticket_id: str, user: cl.User = Depends(staff_only), csrf: str = Form(""),
                     to: str = Form("me")) -> Response:  # fmt: skip
        assignee = None if to == "nobody" else user.identifier  # a lead takes a ticket or lets it go

        async def change() -> None:
            # Whoever holds the live chat keeps the ticket: the one who writes to the customer is its assignee.
            held = await desk.holder((await queue.get(ticket_id)).ticket.conversation_id) if desk else None
            if held is not None and held.staff.identifier != assignee:
                raise TicketChangeRefused(HELD_TICKET.format(name=held.staff.name))
            await queue.assign(ticket_id, user.identifier, assignee)

        return await act(user, ticket_id, csrf, change)

    @router.post("/workspace/tickets/{ticket_id}/status", include_in_schema=False)
    async def move(ticket_id: str, user: cl.User = Depends(staff_only), csrf: str = Form(""),
                   status: str = Form("")) -> Response:  # fmt: skip
        async def change() -> None:
            row = await queue.move(ticket_id, user.identifier, status)
            await _copy_to_facts(history, row)
            if desk is not None and row.status == "solved":  # solving the ticket ends a live hand-over
                try:
                    await desk.solved(row.conversation_id)
                except AgentRuntimeError as exc:  # the ticket is solved; the chat stays with the lead, who can hand back
                    log.error("ticket %s solved, but its live chat did not end: %s", row.id, exc)

        return await act(user, ticket_id, csrf, change)

    @router.post("/workspace/tickets/{ticket_id}/notes", include_in_schema=False)
    async def add_note(ticket_id: str, user: cl.User = Depends(staff_only), csrf: str = Form(""),
                       note: str = Form("")) -> Response:  # fmt: skip
        return await act(user, ticket_id, csrf, lambda: queue.add_note(ticket_id, user.identifier, note))


async def _copy_to_facts(history: ChatStore, row: TicketRow) -> None:
    """The conversation's facts follow the ticket's status. The ticket is already changed (another database,
    maybe): a failure here is logged, not shown to the lead as a failed change."""
    try:
        await history.ticket_changed(row.conversation_id, row.id, row.status)
    except Exception:
        log.exception("could not copy ticket %s's status %s to conversation %s", row.id, row.status,
                      row.conversation_id)
