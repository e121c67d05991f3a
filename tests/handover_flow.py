"""The steps of a live hand-over in the browser, shared by the one-instance test (tests/test_browser_handover.py)
and the two-instance one (tests/test_cluster_handover.py): the customer asks for a person, the lead opens the
ticket from the queue, takes it over, writes, hands back."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from tests.browser_fixtures import LOAD_TIMEOUT_MS, LOOPBACK_HOSTS, reply, send, sign_in
from tests.chainlit_server import DEMO_PASSWORD, LEAD, ChainlitServer

LEAD_NAME = "Lee (demo support lead)"  # the demo lead's display name (agent/web/auth.py)
TICKET = re.compile(r"T-[A-Z0-9]{8}")


@contextlib.contextmanager
def lead_page(browser, server: ChainlitServer, tmp_path: Path, password: str = DEMO_PASSWORD) -> Iterator[object]:
    """A second browser context, signed in as the demo lead on `server` (any object with a `base_url`)."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    context.set_default_timeout(LOAD_TIMEOUT_MS)
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).hostname in LOOPBACK_HOSTS
               else route.abort())  # fmt: skip
    try:
        page.goto(server.base_url + "/", wait_until="domcontentloaded")
        sign_in(page, server, LEAD, password)
        page.locator("#chat-input").wait_for()
        yield page
    finally:
        with contextlib.suppress(Exception):
            page.screenshot(path=str(tmp_path / "lead.png"), full_page=True)
        context.close()


def ask_for_a_human(page, chat_input) -> str:
    """The customer asks for a person; the ticket the assistant opened."""
    send(page, chat_input, "I want to talk to a real person")
    found = TICKET.search(reply(page, TICKET).inner_text())
    assert found, "no ticket id in the hand-over message"
    return found.group(0)


def open_queue_ticket(lead, base_url: str, ticket_id: str) -> None:
    """From the escalation queue, the way a lead gets there."""
    lead.goto(base_url + "/workspace/tickets")
    lead.get_by_role("link", name=ticket_id).first.click()
    lead.wait_for_url(f"**/workspace/tickets/{ticket_id}")


def take_over(lead) -> None:
    from playwright.sync_api import expect

    lead.get_by_role("button", name="Take over").click()
    lead.wait_for_url("**/live")
    expect(lead.locator("#reply-text")).to_be_visible()


def write_as_lead(lead, text: str) -> None:
    from playwright.sync_api import expect

    lead.locator("#reply-text").fill(text)
    lead.get_by_role("button", name="Send").click()
    expect(lead.locator("#chat li.human").filter(has_text=text)).to_be_visible()
    expect(lead.locator("#reply-text")).to_have_value("")


def hand_back(lead) -> None:
    lead.get_by_role("button", name="Hand back to the assistant").click()
    lead.wait_for_url(re.compile(r".*/workspace/tickets/T-[A-Z0-9]{8}$"))

