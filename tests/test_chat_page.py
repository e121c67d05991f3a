"""The customer's page template loads nothing from another origin (agent/web/chat_page.py); the browser tests
check the real page's requests."""

from __future__ import annotations

import json

from agent.web.chat_page import without_outside_links
from tests.conftest import ROOT

CHAINLIT_HEAD = """<head>
    <link rel="preconnect" href="https://fonts.googleapis.com" />
    <link rel="preconnect" href="https://fonts.gstatic.com" crossorigin />
    <link
      href="https://fonts.googleapis.com/css2?family=Inter:wght@400;500;700&display=swap"
      rel="stylesheet"
    />
    <link rel="stylesheet" href="//cdn.example.net/x.css">
    <link rel="icon" href="/favicon" />
    <link rel="stylesheet" crossorigin href="/assets/index.css">
    <script type="module" crossorigin src="/assets/index.js"></script>
</head>"""


def test_links_to_other_origins_are_dropped_and_the_server_s_own_kept():
    page = without_outside_links(CHAINLIT_HEAD)
    assert "//" not in page.replace("</", "")
    assert '<link rel="icon" href="/favicon" />' in page
    assert 'href="/assets/index.css"' in page and 'src="/assets/index.js"' in page


def test_the_theme_names_fonts_of_its_own_so_the_widget_adds_no_font_service():
    fonts = json.loads((ROOT / "public/theme.json").read_text())["custom_fonts"]
    assert fonts and all(f.startswith(("data:", "/")) for f in fonts)
