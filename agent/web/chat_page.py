"""The customer's Chainlit page loads nothing from another origin.

Chainlit's index.html links KaTeX's stylesheet from jsdelivr and preconnects to Google Fonts. LaTeX is off
(.chainlit/config.toml), and the theme's fonts are the system's (public/theme.json names an empty stylesheet
of its own, which also keeps the copilot widget from adding Google Fonts to a shop's page), so those tags are
dropped from the page Chainlit renders. `get_html_template` is looked up by `chainlit.server.serve` on every
request, so wrapping the module's function is enough; a test loads the page and fails on any outside request.
"""

from __future__ import annotations

import re

import chainlit.server

# A <link> tag (one or several lines) whose href is on another origin: http(s):// or protocol-relative.
_OUTSIDE_LINK = re.compile(r"""\s*<link\b[^>]*\bhref=["'](?:https?:)?//[^"']*["'][^>]*>""", re.IGNORECASE)


def without_outside_links(html: str) -> str:
    return _OUTSIDE_LINK.sub("", html)


def serve_locally() -> None:
    """Make Chainlit's page template drop every <link> to another origin (idempotent)."""
    template = chainlit.server.get_html_template
    if getattr(template, "serves_locally", False):
        return

    def local_template(root_path: str) -> str:
        return without_outside_links(template(root_path))

    local_template.serves_locally = True  # type: ignore[attr-defined]
    chainlit.server.get_html_template = local_template
