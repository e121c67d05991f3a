"""The support-lead workspace: server-rendered pages under /workspace, for staff only.

Every request re-reads the caller's role from the users table (`is_staff`): customers, widget customers,
anonymous visitors and bad cookies get the same 404 as an unknown URL, and so does everyone while sign-in is
off. Pages are Jinja2 templates (autoescaped) in agent/web/templates/, with no script and nothing from a CDN.
A row links to Chainlit's read-only transcript, /share/<thread id>, which `on_shared_thread_view` opens to staff.
"""

from __future__ import annotations

import urllib.parse
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import chainlit as cl
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from agent.datalayer.store import ChatStore
from agent.datalayer.workspace import RATINGS, ConversationFilters, ConversationRow, InvalidCursor, WorkspaceQueries
from agent.web.auth import STAFF_ROLES, is_staff
from agent.web.routes import NOT_FOUND, signed_in_or_none

PAGE_SIZE = 50
TEMPLATES = Path(__file__).resolve().parent / "templates"
RATING_MARKS = {1: "👍", 0: "👎", None: "—"}
RATING_LABELS = {1: "thumbs up", 0: "thumbs down", None: "not rated"}
# No script at all; inline styles only (the base layout's <style>); forms post nowhere else.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

templates = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
)


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status_code, headers=HEADERS)


class BadFilter(ValueError):
    pass


def _day(value: str, name: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise BadFilter(f"“{name}” must be a date like 2026-01-31.") from exc


def parse_filters(since: str, until: str, customer: str, rating: str, q: str) -> ConversationFilters:
    """The list's query parameters as filters: dates are whole UTC days, `to` included."""
    start, end = _day(since, "From"), _day(until, "To")
    if rating and rating not in RATINGS:
        raise BadFilter("“Rating” must be up, down or unrated.")
    return ConversationFilters(
        since=datetime.combine(start, time.min) if start else None,
        until=datetime.combine(end + timedelta(days=1), time.min) if end else None,
        customer=customer.strip() or None, rating=rating or None, search=q.strip() or None,  # type: ignore[arg-type]
    )  # fmt: skip


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
    }


def workspace_routes(history: ChatStore, sign_in_enabled: bool) -> APIRouter:
    """The /workspace routes; `sign_in_enabled` is settings.auth.enabled (off: every URL is 404)."""
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

    @router.get("/workspace/conversations", include_in_schema=False)
    async def conversation_list(
        user: cl.User = Depends(staff_only),
        since: str = Query("", alias="from", max_length=40),
        until: str = Query("", alias="to", max_length=40),
        customer: str = Query("", max_length=255),
        rating: str = Query("", max_length=20),
        q: str = Query("", max_length=500),
        cursor: str = Query("", max_length=2000),
    ) -> HTMLResponse:
        form = {"from": since, "to": until, "customer": customer, "rating": rating, "q": q}
        page_context = {"user": user, "form": form, "ratings": RATINGS, "rows": [], "next_url": None,
                        "first_url": None, "error": None}  # fmt: skip
        try:
            filters = parse_filters(since, until, customer, rating, q)
            page = await queries.conversations(filters, PAGE_SIZE, cursor or None)
        except (BadFilter, InvalidCursor) as exc:
            page_context["error"] = str(exc) if isinstance(exc, BadFilter) else "That page link is no longer valid."
            return render("conversations.html", status_code=400, **page_context)
        query = {key: value for key, value in form.items() if value}
        if page.next_cursor is not None:
            page_context["next_url"] = "?" + urllib.parse.urlencode(query | {"cursor": page.next_cursor.encode()})
        if cursor:
            page_context["first_url"] = "?" + urllib.parse.urlencode(query)
        page_context["rows"] = [row_view(row) for row in page.rows]
        return render("conversations.html", **page_context)

    @router.get("/workspace/{rest:path}", include_in_schema=False)
    async def unknown_page(rest: str) -> None:
        # Chainlit's catch-all would answer any other /workspace URL with the chat page (200): a plain 404.
        raise HTTPException(status_code=404, detail=NOT_FOUND)

    return router
