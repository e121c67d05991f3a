"""What every workspace page shares: the Jinja2 templates, the security headers, rendering, and date fields.

Pages are autoescaped templates in agent/web/templates/. They run no script, except the analytics page, whose
one inline script carries a fresh nonce (`page_headers(nonce)`), and the live hand-over page, whose script comes
from this origin; none loads anything from another origin.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Forms post only here; no frames, no base URL games; styles inline in the base layout.
_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

templates = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
)


class BadInput(ValueError):
    """A filter or form value typed wrong: the page says why, with a 400."""


def page_headers(nonce: str | None = None, *, connect: bool = False) -> dict[str, str]:
    """The workspace's headers; with `nonce`, scripts from this origin and the inline script carrying it run;
    `connect` lets them call this origin (the live page's event stream and replies)."""
    scripts = f"; script-src 'self' 'nonce-{nonce}'; img-src 'self' data:" if nonce else "; img-src 'self'"
    scripts += "; connect-src 'self'" if connect else ""
    return {
        "Content-Security-Policy": _POLICY + scripts,
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


HEADERS = page_headers()


def render(name: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    body = templates.get_template(name).render(**context)
    return HTMLResponse(body, status_code=status_code, headers=headers or HEADERS)


def parse_day(value: str, name: str) -> date | None:
    """A day typed in a date field (2026-01-31), or None when left empty."""
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise BadInput(f"“{name}” must be a date like 2026-01-31.") from exc
