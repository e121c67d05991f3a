"""The analytics page's charts: plotly figures built in Python, sent to the page as JSON (plotly.js draws them).

Each chart has its numbers in a table beside it, so the figures are a picture of what the page already says:
nothing here is a number that only a chart shows.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go

from agent.datalayer.analytics import Analytics, ItemStat

HEIGHT = 260
MARGIN = {"l": 8, "r": 8, "t": 8, "b": 8}
COLORS = {"primary": "hsl(258, 60%, 70%)", "good": "hsl(145, 45%, 55%)", "warn": "hsl(38, 80%, 60%)",
          "bad": "hsl(0, 70%, 68%)", "muted": "hsl(0, 0%, 55%)", "text": "hsl(0, 0%, 85%)",
          "grid": "hsl(0, 0%, 22%)"}  # fmt: skip


def _axis(**extra: Any) -> dict[str, Any]:
    return {"gridcolor": COLORS["grid"], "zerolinecolor": COLORS["grid"], "automargin": True, **extra}


def _layout(xaxis: dict[str, Any] | None = None, yaxis: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    # "none": no plotly template in each figure's JSON (the default one is ~8 KB and white); the dark look of
    # the workspace (base.html's colours) is set here instead.
    return {
        "template": "none", "height": HEIGHT, "margin": MARGIN, "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": "system-ui, sans-serif", "size": 12, "color": COLORS["text"]},
        "legend": {"orientation": "h", "y": -0.2}, "xaxis": _axis(**(xaxis or {})), "yaxis": _axis(**(yaxis or {})),
        **extra,
    }  # fmt: skip


def _json(figure: go.Figure) -> Any:
    return json.loads(figure.to_json())  # plotly's encoder; the template escapes it for a <script> block


def volume(data: Analytics) -> Any:
    days = [d.day.isoformat() for d in data.days]
    figure = go.Figure([
        go.Bar(x=days, y=[d.conversations for d in data.days], name="Conversations", marker_color=COLORS["primary"]),
        go.Scatter(x=days, y=[d.customer_messages for d in data.days], name="Customer messages", mode="lines",
                   line={"color": COLORS["warn"]}),
    ], layout=_layout(xaxis={"type": "date"}, yaxis={"rangemode": "tozero"}))  # fmt: skip
    return _json(figure)


def outcomes(data: Analytics) -> Any:
    unresolved = data.answered - data.resolved - data.pending
    slices = [("Resolved", data.resolved, COLORS["good"]), ("Pending (< 24 h)", data.pending, COLORS["muted"]),
              ("Answered, not resolved", unresolved, COLORS["warn"]),
              ("Not answered", data.conversations - data.answered, COLORS["bad"])]
    shown = [s for s in slices if s[1]]  # an empty slice would still print its 0 beside the ring
    figure = go.Figure(
        go.Pie(labels=[s[0] for s in shown], values=[s[1] for s in shown], hole=0.55, sort=False,
               marker={"colors": [s[2] for s in shown]}, textinfo="value"),
        layout=_layout(),
    )
    return _json(figure)


def ratings(data: Analytics) -> Any:
    labels = ["👍 Up", "👎 Down", "Not rated"]
    values = [data.rated_up, data.rated_down, max(0, data.answered - data.rated)]
    figure = go.Figure(
        go.Bar(x=labels, y=values, marker_color=[COLORS["good"], COLORS["bad"], COLORS["muted"]]),
        layout=_layout(yaxis={"rangemode": "tozero"}),
    )
    return _json(figure)


def intents(rows: list[ItemStat]) -> Any:
    names = [r.name for r in reversed(rows)]  # plotly draws horizontal bars bottom-up: the largest on top
    figure = go.Figure(
        go.Bar(y=names, x=[r.conversations for r in reversed(rows)], orientation="h", name="Conversations",
               marker_color=COLORS["primary"]),
        layout=_layout(),
    )  # fmt: skip
    return _json(figure)


def tools(rows: list[ItemStat]) -> Any:
    names = [r.name for r in reversed(rows)]
    figure = go.Figure([
        go.Bar(y=names, x=[r.uses - r.failures for r in reversed(rows)], orientation="h", name="Succeeded",
               marker_color=COLORS["good"]),
        go.Bar(y=names, x=[r.failures for r in reversed(rows)], orientation="h", name="Failed",
               marker_color=COLORS["bad"]),
    ], layout=_layout(barmode="stack", legend={"orientation": "h", "y": -0.2, "traceorder": "normal"}))  # fmt: skip
    return _json(figure)


def cards(data: Analytics) -> Any:
    c = data.cards
    labels = ["Confirmed", "Declined", "Expired", "Not answered"]
    figure = go.Figure(
        go.Bar(x=labels, y=[c.confirmed, c.declined, c.expired, c.not_answered],
               marker_color=[COLORS["good"], COLORS["bad"], COLORS["muted"], COLORS["warn"]]),
        layout=_layout(yaxis={"rangemode": "tozero"}),
    )  # fmt: skip
    return _json(figure)


def charts(data: Analytics) -> dict[str, Any]:
    """Every figure by its element id on the page; lists with no rows get no chart."""
    figures = {"chart-volume": volume(data), "chart-outcomes": outcomes(data), "chart-ratings": ratings(data),
               "chart-cards": cards(data)}  # fmt: skip
    if data.intents:
        figures["chart-intents"] = intents(data.intents)
    if data.tools:
        figures["chart-tools"] = tools(data.tools)
    return figures
