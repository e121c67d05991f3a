"""The offline dialogue engine on the real page: an anonymous shop-widget customer returns an item.

No LLM and no sign-in (AUTH_ENABLED=false): the customer identifies themselves in the chat, picks from
quick-reply buttons, and only the click on the confirmation card changes the store.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.chainlit_server import ChainlitServer, run_chainlit
from tests.browser_fixtures import (  # noqa: F401  (browser and page are fixtures)
    reply,
    send,
    LOAD_TIMEOUT_MS,
    SocketLog,
    browser,
    diagnostics,
    page,
)

pytestmark = pytest.mark.browser

RETURNED_ORDER = "#W1001001"  # the demo customer's delivered order: headphones and a keyboard


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory) -> Iterator[ChainlitServer]:
    """The app as an anonymous widget: no sign-in, no LLM (the server helper never sets LLM_*)."""
    try:
        with run_chainlit(tmp_path_factory.mktemp("chainlit-dialogue"), env={"AUTH_ENABLED": "false"}) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def open_anonymous_chat(page, server: ChainlitServer):
    """Load the page (no login screen) and wait until the chat session exists on the server."""
    from playwright.sync_api import expect

    socket_log = SocketLog(page)
    page.goto(server.base_url + "/", wait_until="domcontentloaded")
    chat_input = page.locator("#chat-input")
    expect(chat_input).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    assert "/login" not in page.url, f"sign-in is off, yet the page asked for it: {page.url}"
    socket_log.wait_for(page, "task_end", new_connection=True)
    return chat_input


def test_return_the_headphones_as_an_anonymous_customer(page, tmp_path: Path, chainlit_server) -> None:
    with diagnostics(page, tmp_path, chainlit_server):
        _return_headphones(page, chainlit_server)


def _return_headphones(page, server: ChainlitServer) -> None:
    from playwright.sync_api import expect

    chat_input = open_anonymous_chat(page, server)
    send(page, chat_input, "I want to return the headphones from my last order")
    reply(page, re.compile(r"email address", re.IGNORECASE))
    send(page, chat_input, "dana@example.com")

    # The order and the item follow from "my last order" and "the headphones"; a question left is asked
    # with buttons. Answer each with its button until the refund question.
    question = reply(page, re.compile(r"Which order|Which items|Where should the refund go"))
    _steps_come_before_theirreply(page)
    if question.filter(has_text="Which order").count():
        question.get_by_role("button", name=re.compile(RETURNED_ORDER)).click()
        question = reply(page, re.compile(r"Which items|Where should the refund go"))
    if question.filter(has_text="Which items").count():
        question.get_by_role("button", name=re.compile(r"^Headphones")).click()
        question = reply(page, "Where should the refund go")
    expect(question).to_contain_text("Headphones")
    question.get_by_role("button", name="Visa ending 4242").click()

    card = reply(page, "Please confirm this change")
    expect(card).to_contain_text(f"Return from order {RETURNED_ORDER}")
    expect(card).to_contain_text("Headphones")
    assert _order(server, RETURNED_ORDER)[0] == "delivered", "nothing may change before the click"

    card.get_by_role("button", name="Confirm").click()
    done = reply(page, re.compile(r"return for order #W1001001 is requested"))
    expect(done).to_contain_text("refunded to your Visa ending 4242")
    status, returned = _order(server, RETURNED_ORDER)
    assert status == "return requested"
    assert returned == ["Headphones"], f"exactly the headphones are returned: {returned}"


def _steps_come_before_theirreply(page) -> None:
    """Shown in the order things happened: this turn's "Used find_user_id_by_email" sits above its answer."""
    kinds = page.locator("[data-step-type]").evaluate_all("nodes => nodes.map(n => n.dataset.stepType)")
    last_turn = kinds[len(kinds) - 1 - kinds[::-1].index("user_message"):]
    assert last_turn[0] == "user_message" and "tool" in last_turn, last_turn
    assert last_turn.index("tool") < last_turn.index("assistant_message"), f"a tool step below its reply: {kinds}"


def _order(server: ChainlitServer, order_id: str) -> tuple[str, list[str] | None]:
    """The order's status and the names of the items in its return request."""
    with contextlib.closing(sqlite3.connect(server.database_path)) as db:
        status, items = db.execute("SELECT status, return_items FROM store_orders WHERE id = ?", (order_id,)).fetchone()
        names = dict(db.execute("SELECT item_id, name FROM store_order_items WHERE order_id = ?", (order_id,)))
    return status, [names.get(item, item) for item in json.loads(items)] if items else None
