"""A signed-in customer on the real page, changing their mind mid-flow (#12).

"track my order" must list the customer's own orders, not answer with the help article about
tracking numbers; "actually I want to return the headphones", typed while the assistant waits for an
order to check, starts the return, says the order check was set aside, and the click returns them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.browser_fixtures import (  # noqa: F401  (browser and page are fixtures)
    browser,
    diagnostics,
    open_chat,
    page,
    reply,
    send,
)
from tests.chainlit_server import ChainlitServer, chainlit_server  # noqa: F401  (a fixture)
from tests.test_browser_dialogue import _order

pytestmark = pytest.mark.browser

DANAS_ORDERS = ("#W1001001", "#W1001002", "#W1001003", "#W1001004")  # the demo customer's, newest last


def test_track_my_order_then_return_the_headphones_instead(page, tmp_path: Path, chainlit_server) -> None:
    with diagnostics(page, tmp_path, chainlit_server):
        _track_then_return(page, chainlit_server)


def _track_then_return(page, server: ChainlitServer) -> None:
    from playwright.sync_api import expect

    chat_input, _ = open_chat(page, server)
    send(page, chat_input, "track my order")
    question = reply(page, "Which order would you like me to check?")
    for order_id in DANAS_ORDERS:
        expect(question.get_by_role("button", name=re.compile(order_id))).to_be_visible()

    send(page, chat_input, "actually I want to return the headphones")
    switched = reply(page, "set aside checking an order")
    expect(switched).to_contain_text("Headphones")
    expect(switched).to_contain_text("#W1001001")
    switched.get_by_role("button", name="Visa ending 4242").click()

    card = reply(page, "Please confirm this change")
    expect(card).to_contain_text("Return from order #W1001001")
    assert _order(server, "#W1001001")[0] == "delivered", "nothing may change before the click"
    card.get_by_role("button", name="Confirm").click()
    reply(page, re.compile(r"return for order #W1001001 is requested"))
    assert _order(server, "#W1001001") == ("return requested", ["Headphones"])
