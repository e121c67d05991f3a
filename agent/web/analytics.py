"""The workspace's analytics page, /workspace/analytics?from=&to=, for staff only (the `staff_only` guard of
agent/web/workspace.py, which includes these routes).

Numbers come from agent/datalayer/analytics.py (SQL aggregates) and the content-gap groups from
agent/analytics/gaps.py; the charts are plotly figures drawn by plotly.js, served from the installed plotly
package at /workspace/static/plotly.min.js (nothing from a CDN). This page is the only workspace page with
script: its Content-Security-Policy allows scripts from this origin and the one inline script carrying this
response's nonce, fresh on every response.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import secrets
import urllib.parse
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

import plotly
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from agent.analytics.gaps import ContentGaps, GapGroup, SentenceEmbedder
from agent.datalayer.analytics import RESOLUTION_WINDOW, Analytics, AnalyticsQueries
from agent.datalayer.analytics_gaps import GapQueries
from agent.datalayer.store import ChatStore
from agent.settings import AnalyticsSettings
from agent.web import analytics_charts
from agent.web.auth import STAFF_ROLES
from agent.web.pages import BadInput, page_headers, parse_day, render

log = logging.getLogger(__name__)
PLOTLY_URL = f"/workspace/static/plotly.min.js?v={plotly.__version__}"  # a new version is a new URL: cached forever
PLOTLY_CACHE = "private, max-age=31536000, immutable"
NONCE_BYTES = 18


def parse_range(since: str, until: str, today: date, cfg: AnalyticsSettings) -> tuple[date, date]:
    """(first day, last day), both included, whole UTC days; by default the last `cfg.default_days` days."""
    last = parse_day(until, "To") or today
    first = parse_day(since, "From") or last - timedelta(days=cfg.default_days - 1)
    if first > last:
        raise BadInput("“From” must not be after “To”.")
    if (last - first).days + 1 > cfg.max_days:
        raise BadInput(f"Choose at most {cfg.max_days} days.")
    return first, last


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def gap_view(group: GapGroup) -> dict[str, Any]:
    return {
        "size": group.size, "missed": group.missed, "rated_down": group.rated_down, "handed_over": group.handed_over,
        "examples": group.examples, "last_asked": group.last_asked.strftime("%Y-%m-%d"),
        "transcripts": ["/share/" + urllib.parse.quote(t, safe="") for t in group.thread_ids],
    }  # fmt: skip


def page_context(data: Analytics, groups: list[GapGroup] | None, cfg: AnalyticsSettings) -> dict[str, Any]:
    return {
        "a": data, "percent": percent, "duration": duration, "charts": analytics_charts.charts(data),
        "gaps": None if groups is None else [gap_view(g) for g in groups[: cfg.gap_groups]],
        "gap_total": None if groups is None else len(groups), "plotly_url": PLOTLY_URL,
        "window_hours": int(RESOLUTION_WINDOW.total_seconds() // 3600), "gap_questions": cfg.gap_questions,
    }  # fmt: skip


@lru_cache(maxsize=1)
def plotly_js() -> tuple[bytes, bytes]:
    """plotly.js from the installed plotly package, as is and gzipped (compressed once, not per request)."""
    data = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    return data, gzip.compress(data, compresslevel=6)


def analytics_routes(
    history: ChatStore, staff_only: Callable[..., Any], cfg: AnalyticsSettings, embedder: SentenceEmbedder
) -> APIRouter:
    """/workspace/analytics and the plotly.js it loads, both behind `staff_only` (404 for everyone else)."""
    router = APIRouter()
    queries = AnalyticsQueries(history, STAFF_ROLES, top=cfg.top_items)
    gaps = ContentGaps(GapQueries(history, STAFF_ROLES), embedder, max_questions=cfg.gap_questions,
                       distance_threshold=cfg.gap_distance)  # fmt: skip

    async def gap_groups(since: datetime, until: datetime) -> list[GapGroup] | None:
        try:
            return await gaps.groups(since, until)
        except Exception:  # the numbers still show without the groups (the embedder may be unavailable)
            log.exception("content gaps could not be grouped")
            return None

    @router.get("/workspace/analytics", include_in_schema=False)
    async def analytics_page(
        user: Any = Depends(staff_only),
        since: str = Query("", alias="from", max_length=40),
        until: str = Query("", alias="to", max_length=40),
    ) -> HTMLResponse:
        nonce = secrets.token_urlsafe(NONCE_BYTES)
        now = datetime.now(UTC).replace(tzinfo=None)
        context: dict[str, Any] = {"user": user, "nonce": nonce, "form": {"from": since, "to": until}}
        try:
            first, last = parse_range(since, until, now.date(), cfg)
        except BadInput as exc:
            return render("analytics.html", 400, page_headers(nonce), **context, error=str(exc), a=None)
        start, end = datetime.combine(first, time.min), datetime.combine(last + timedelta(days=1), time.min)
        data, groups = await asyncio.gather(queries.summary(start, end, now), gap_groups(start, end))
        context |= page_context(data, groups, cfg)
        context["form"] = {"from": first.isoformat(), "to": last.isoformat()}
        return render("analytics.html", 200, page_headers(nonce), **context, error=None)

    @router.get("/workspace/static/plotly.min.js", include_in_schema=False)
    async def plotly_script(request: Request, user: Any = Depends(staff_only)) -> Response:
        plain, packed = await asyncio.to_thread(plotly_js)  # the first call reads and compresses 5 MB
        headers = {"Cache-Control": PLOTLY_CACHE, "X-Content-Type-Options": "nosniff", "Vary": "Accept-Encoding"}
        if "gzip" in request.headers.get("accept-encoding", "").lower():
            headers["Content-Encoding"] = "gzip"  # set here, so the app's GZip middleware leaves it alone
            return Response(packed, media_type="text/javascript", headers=headers)
        return Response(plain, media_type="text/javascript", headers=headers)

    return router
