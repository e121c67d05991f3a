"""The support-lead workspace: server-rendered pages under /workspace, for staff only.

Every request re-reads the caller's role from the users table (`is_staff`): customers, widget customers,
anonymous visitors and bad cookies get the same 404 as an unknown URL, and so does everyone while sign-in is
off. Pages are Jinja2 templates (autoescaped) in agent/web/templates/, with no script (but the analytics page,
agent/web/analytics.py, whose charts need plotly.js, served from here) and nothing from a CDN.
A row links to Chainlit's read-only transcript, /share/<thread id>, which `on_shared_thread_view` opens to staff
(agent/web/routes.py records each opening). /workspace/conversations/<thread id> redirects there: tickets link to
it. /workspace/conversations.csv downloads the list under the same filters, streamed.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

import chainlit as cl
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse

from agent.analytics.gaps import SentenceEmbedder
from agent.datalayer.store import ChatStore
from agent.datalayer.workspace import RATINGS, ConversationFilters, ConversationRow, InvalidCursor, WorkspaceQueries
from agent.settings import AnalyticsSettings
from agent.web.analytics import analytics_routes
from agent.web.auth import STAFF_ROLES, is_staff
from agent.web.csv_export import csv_response
from agent.web.pages import HEADERS, BadInput, parse_day, render
from agent.web.live import LiveParts, live_routes
from agent.web.queue import queue_routes
from agent.web.routes import NOT_FOUND, signed_in_or_none
from knowledge.embedder import Embedder
from tools.store.db import StoreDatabase
from tools.store.tickets import TicketQueue
from tools.store.models import TICKET_STATUSES

PAGE_SIZE = 50
RATING_MARKS = {1: "👍", 0: "👎", None: "—"}
RATING_LABELS = {1: "thumbs up", 0: "thumbs down", None: "not rated"}
CSV_RATINGS = {1: "up", 0: "down", None: ""}
YES_NO = {"yes": True, "no": False}
# The list's query parameters; the form, the pager and the CSV link carry all of them.
FILTER_FIELDS = ("from", "to", "customer", "rating", "q", "escalated", "ticket", "tool", "intent", "did_not_know")
CSV_HEADER = ("conversation id", "started (UTC)", "customer", "customer name", "title", "turns", "outcome",
              "last rating", "escalated", "ticket id", "ticket status", "transcript URL")
def _yes_no(value: str, name: str) -> bool | None:
    if not value:
        return None
    if value not in YES_NO:
        raise BadInput(f"“{name}” must be yes or no.")
    return YES_NO[value]


def parse_filters(form: Mapping[str, str]) -> ConversationFilters:
    """The list's query parameters (FILTER_FIELDS) as filters: dates are whole UTC days, `to` included."""
    start, end = parse_day(form.get("from", ""), "From"), parse_day(form.get("to", ""), "To")
    rating, ticket = form.get("rating", ""), form.get("ticket", "")
    if rating and rating not in RATINGS:
        raise BadInput("“Rating” must be up, down or unrated.")
    if ticket and ticket not in TICKET_STATUSES:
        raise BadInput("“Ticket” must be open, pending or solved.")
    return ConversationFilters(
        since=datetime.combine(start, time.min) if start else None,
        until=datetime.combine(end + timedelta(days=1), time.min) if end else None,
        customer=form.get("customer", "").strip() or None, rating=rating or None,  # type: ignore[arg-type]
        search=form.get("q", "").strip() or None, escalated=_yes_no(form.get("escalated", ""), "Escalated"),
        ticket_status=ticket or None, tool=form.get("tool", "").strip() or None,
        intent=form.get("intent", "").strip() or None,
        did_not_know=_yes_no(form.get("did_not_know", ""), "Assistant did not know"),
    )  # fmt: skip


def filter_form(
    since: str = Query("", alias="from", max_length=40),
    until: str = Query("", alias="to", max_length=40),
    customer: str = Query("", max_length=255),
    rating: str = Query("", max_length=20),
    q: str = Query("", max_length=500),
    escalated: str = Query("", max_length=8),
    ticket: str = Query("", max_length=20),
    tool: str = Query("", max_length=64),
    intent: str = Query("", max_length=64),
    did_not_know: str = Query("", max_length=8),
) -> dict[str, str]:
    """The filters as they came, keyed by FILTER_FIELDS (a dependency of the list and of its CSV)."""
    values = (since, until, customer, rating, q, escalated, ticket, tool, intent, did_not_know)
    return dict(zip(FILTER_FIELDS, values, strict=True))


def _shorten(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def row_view(row: ConversationRow) -> dict[str, Any]:
    return {
        "thread_id": row.thread_id,
        "transcript": "/share/" + urllib.parse.quote(row.thread_id, safe=""),
        "title": _shorten(row.title or "(untitled)"),
        "customer": row.customer or "(no account)",
        "customer_name": row.customer_name if row.customer_name and row.customer_name != row.customer else "",
        "started": row.started_at.strftime("%Y-%m-%d %H:%M"),
        "started_iso": row.started_at.isoformat(timespec="seconds") + "Z",
        "turns": row.customer_messages,
        "rating": RATING_MARKS.get(row.last_rating, "—"),
        "rating_label": RATING_LABELS.get(row.last_rating, "not rated"),
        "outcome": row.outcome,  # None: no facts recorded for this conversation
        "did_not_know": row.knowledge_misses or 0,
        "ticket_id": row.ticket_id,
        "ticket_status": row.ticket_status,
    }


def transcript_url(base_url: str, thread_id: str) -> str:
    """The staff link to a conversation's transcript (it redirects to /share/<id>), absolute."""
    return base_url.rstrip("/") + "/workspace/conversations/" + urllib.parse.quote(thread_id, safe="")


def csv_cells(row: ConversationRow, base_url: str) -> tuple[object, ...]:
    return (row.thread_id, row.started_at, row.customer, row.customer_name, row.title, row.customer_messages,
            row.outcome, CSV_RATINGS.get(row.last_rating, ""), "yes" if row.escalated else "no", row.ticket_id,
            row.ticket_status, transcript_url(base_url, row.thread_id))  # fmt: skip


def workspace_routes(history: ChatStore, sign_in_enabled: bool, *, analytics: AnalyticsSettings | None = None,
                     embedder: SentenceEmbedder | None = None, tickets: StoreDatabase | None = None,
                     live: LiveParts | None = None) -> APIRouter:
    """The /workspace routes; `sign_in_enabled` is settings.auth.enabled (off: every URL is 404). `embedder`
    groups the analytics' content gaps: the app's own (Services.knowledge.embedder), else a MiniLM of its own.
    `live` adds taking a ticket's conversation over (agent/web/live.py)."""
    router = APIRouter()
    queries = WorkspaceQueries(history, STAFF_ROLES)

    async def staff_only(user: cl.User | None = Depends(signed_in_or_none)) -> cl.User:
        if not sign_in_enabled or user is None or not await is_staff(history, user.identifier):
            raise HTTPException(status_code=404, detail=NOT_FOUND)
        return user

    @router.get("/workspace", include_in_schema=False)
    @router.get("/workspace/", include_in_schema=False)
    async def workspace_home(user: cl.User = Depends(staff_only)) -> RedirectResponse:
        return RedirectResponse("/workspace/conversations", status_code=303, headers={"Cache-Control": "no-store"})

    _conversation_routes(router, queries, staff_only)
    analytics_cfg = analytics or AnalyticsSettings()
    router.include_router(analytics_routes(history, staff_only, analytics_cfg, embedder or Embedder()))
    if tickets is not None:  # the escalation queue, over the store's database (Services.store)
        router.include_router(queue_routes(history, tickets, staff_only, live.desk if live else None))
        if live is not None:
            router.include_router(live_routes(live, history, TicketQueue(tickets), staff_only))

    @router.get("/workspace/{rest:path}", include_in_schema=False)
    async def unknown_page(rest: str) -> None:
        # Chainlit's catch-all would answer any other /workspace URL with the chat page (200): a plain 404.
        raise HTTPException(status_code=404, detail=NOT_FOUND)

    return router


def _conversation_routes(router: APIRouter, queries: WorkspaceQueries, staff_only: Any) -> None:
    """The conversation list, its CSV download, and the staff link to one transcript."""

    @router.get("/workspace/conversations", include_in_schema=False)
    async def conversation_list(
        user: cl.User = Depends(staff_only),
        form: dict[str, str] = Depends(filter_form),
        cursor: str = Query("", max_length=2000),
    ) -> HTMLResponse:
        query = {key: value for key, value in form.items() if value}
        csv_url = "/workspace/conversations.csv" + ("?" + urllib.parse.urlencode(query) if query else "")
        page_context = {"user": user, "form": form, "ratings": RATINGS, "tickets": TICKET_STATUSES, "rows": [],
                        "facets": await queries.facet_values(), "next_url": None, "first_url": None, "error": None,
                        "csv_url": csv_url}  # fmt: skip
        try:
            page = await queries.conversations(parse_filters(form), PAGE_SIZE, cursor or None)
        except (BadInput, InvalidCursor) as exc:
            page_context["error"] = str(exc) if isinstance(exc, BadInput) else "That page link is no longer valid."
            return render("conversations.html", status_code=400, **page_context)
        if page.next_cursor is not None:
            page_context["next_url"] = "?" + urllib.parse.urlencode(query | {"cursor": page.next_cursor.encode()})
        if cursor:
            page_context["first_url"] = "?" + urllib.parse.urlencode(query)
        page_context["rows"] = [row_view(row) for row in page.rows]
        return render("conversations.html", **page_context)

    @router.get("/workspace/conversations.csv", include_in_schema=False)
    async def conversation_csv(
        request: Request, user: cl.User = Depends(staff_only), form: dict[str, str] = Depends(filter_form)
    ) -> Response:
        """Every conversation the filters match, read page by page while the download streams."""
        try:
            filters = parse_filters(form)
        except BadInput as exc:
            return PlainTextResponse(str(exc), status_code=400, headers=HEADERS)
        base_url = str(request.base_url)

        async def cells() -> AsyncIterator[tuple[object, ...]]:
            async for row in queries.rows(filters):
                yield csv_cells(row, base_url)

        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return csv_response(f"conversations-{stamp}.csv", CSV_HEADER, cells(), headers=HEADERS)

    @router.get("/workspace/conversations/{thread_id}", include_in_schema=False)
    async def conversation_transcript(thread_id: str, user: cl.User = Depends(staff_only)) -> RedirectResponse:
        """Tickets link here: the read-only transcript, which records that this staff member opened it."""
        target = "/share/" + urllib.parse.quote(thread_id, safe="")
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
