"""What the page shows when the server refuses an attachment: the reason, in the chat's words (a real Chromium
against a real server over an empty help centre)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_fixtures import (  # noqa: F401  (browser and page are fixtures)
    REPLY_TIMEOUT_MS,
    attach,
    browser,
    diagnostics,
    open_chat,
    page,
)
from tests.chainlit_server import ChainlitServer, server_without_docs

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    yield from server_without_docs(tmp_path_factory, "bad-input-browser")


def test_an_empty_attachment_shows_why_it_was_refused(page, tmp_path: Path, chainlit_server: ChainlitServer) -> None:
    from playwright.sync_api import expect

    with diagnostics(page, tmp_path, chainlit_server):
        open_chat(page, chainlit_server)
        upload = attach(page, {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""})
        assert upload.status == 400, f"upload answered {upload.status}: {upload.text()[:300]}"
        expect(page.get_by_text("Couldn't attach empty.txt: the file is empty.").first).to_be_visible(
            timeout=REPLY_TIMEOUT_MS)
