"""One conversation, two channels: started over the HTTP API, continued in the Chainlit page by the same
customer (resumed from her history), and the page's message read back over the API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser_fixtures import browser, diagnostics, page, reply, send, sign_in  # noqa: F401  (fixtures)
from tests.chainlit_server import ChainlitServer, run_chainlit
from tests.test_api import API, SHOP_SECRET, shop_token

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    try:
        with run_chainlit(tmp_path_factory.mktemp("chainlit-api-page"), env={"AUTH_WIDGET_SECRET": SHOP_SECRET}) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def test_a_conversation_started_over_the_api_continues_in_the_page(page, tmp_path: Path,  # noqa: F811
                                                                  chainlit_server: ChainlitServer) -> None:
    from playwright.sync_api import expect

    server = chainlit_server
    with httpx.Client(base_url=server.base_url + API, timeout=120,
                      headers={"Authorization": f"Bearer {shop_token()}"}) as api:  # fmt: skip
        conversation_id = api.post("/conversations").json()["id"]
        first = api.post(f"/conversations/{conversation_id}/messages", json={"text": "How long does standard shipping take?"})
        assert first.status_code == 200, first.text
        with diagnostics(page, tmp_path, server):
            page.goto(server.base_url + "/", wait_until="domcontentloaded")
            sign_in(page, server)
            page.goto(f"{server.base_url}/thread/{conversation_id}", wait_until="domcontentloaded")
            expect(page.get_by_text("How long does standard shipping take?").first).to_be_visible()
            chat_input = page.locator("#chat-input")
            expect(chat_input).to_be_visible()
            send(page, chat_input, "How long do I have to return an item?")
            reply(page, "30 days")
        transcript = api.get(f"/conversations/{conversation_id}/messages").json()["messages"]
    texts = [(m["role"], m["text"]) for m in transcript]
    assert texts[0] == ("customer", "How long does standard shipping take?")
    assert ("customer", "How long do I have to return an item?") in texts, texts
    assert any(role == "assistant" and "30 days" in text for role, text in texts), texts
