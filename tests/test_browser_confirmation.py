"""The confirmation card on the real page in headless Chromium: the app, with its OpenAI adapter pointed at a
rule-based OpenAI-compatible server, prepares a cancellation, and only the click on Confirm changes the store.

The shared fixtures and page helpers are in tests/browser_fixtures.py.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_fixtures import (  # noqa: F401  (browser and page are fixtures)
    REPLY_TIMEOUT_MS,
    browser,
    diagnostics,
    open_chat,
    page,
)
from tests.chainlit_server import ChainlitServer, run_chainlit
from tests.fake_llm import Call, RuleBasedOpenAI, Say

pytestmark = pytest.mark.browser

PENDING_ORDER = "#W1001003"  # the demo customer's pending order, paid with her gift card


def cancel_rule(messages: list[dict]) -> Say | Call:
    """The model's side of a cancellation: look the order up, ask to cancel it, then tell the customer to confirm."""
    if messages[-1]["role"] == "user":
        return Call("get_order_details", {"order_id": PENDING_ORDER})
    previous = messages[-2]["tool_calls"][0]["function"]["name"]
    if previous == "get_order_details":
        return Call("cancel_pending_order", {"order_id": PENDING_ORDER, "reason": "ordered by mistake"})
    return Say("I've prepared the cancellation. Please check the summary and click Confirm.")


@pytest.fixture(scope="module")
def llm_chainlit_server(tmp_path_factory) -> Iterator[tuple[ChainlitServer, RuleBasedOpenAI]]:
    """The app with its OpenAI adapter pointed at a rule-based OpenAI-compatible server."""
    fake = RuleBasedOpenAI(cancel_rule)
    try:
        with run_chainlit(tmp_path_factory.mktemp("chainlit-llm"), env=fake.env()) as server:
            yield server, fake
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    finally:
        fake.close()


@pytest.fixture(scope="module")
def chainlit_server(llm_chainlit_server) -> ChainlitServer:
    """The server the `page` fixture waits for: this module's only one, the rule-based LLM's."""
    server, _fake = llm_chainlit_server
    return server


def test_cancel_a_pending_order_with_the_confirmation_card(page, tmp_path: Path, llm_chainlit_server) -> None:
    server, fake = llm_chainlit_server
    with diagnostics(page, tmp_path, server):
        _cancel_with_confirmation(page, server)
    assert any(m["role"] == "tool" and "needs_confirmation" in m["content"] for m in fake.requests[-1]["messages"])


def _cancel_with_confirmation(page, server: ChainlitServer) -> None:
    from playwright.sync_api import expect

    chat_input, _ = open_chat(page, server)
    chat_input.click()
    chat_input.type(f"Please cancel order {PENDING_ORDER}, I ordered it by mistake.")
    chat_input.press("Enter")

    card = page.locator('[data-step-type="assistant_message"]').filter(has_text="Please confirm this change").last
    expect(card).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(card).to_contain_text(f"Cancel order {PENDING_ORDER}")
    expect(card).to_contain_text("gift card")
    assert _order_status(server, PENDING_ORDER) == "pending", "nothing may change before the click"

    card.get_by_role("button", name="Confirm").click()
    done = page.locator('[data-step-type="assistant_message"]').filter(has_text=re.compile(r"is cancelled")).last
    expect(done).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(done).to_contain_text(re.compile(r"refund", re.IGNORECASE))
    expect(card.get_by_role("button", name="Confirm")).to_have_count(0)  # the buttons go once clicked
    assert _order_status(server, PENDING_ORDER) == "cancelled"


def _order_status(server: ChainlitServer, order_id: str) -> str:
    with contextlib.closing(sqlite3.connect(server.database_path)) as db:
        return db.execute("SELECT status FROM store_orders WHERE id = ?", (order_id,)).fetchone()[0]
