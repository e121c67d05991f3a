"""The support-lead workspace in headless Chromium, on the app as `make run` starts it: the demo conversations
are seeded at start (AUTH_DEMO_CONVERSATIONS, through the real chat service and offline engine), so the lead
works on conversations the product itself recorded.

- The demo lead: the chat's welcome links to the workspace; filter 👎 conversations, open one and see its tool
  steps and sources in the read-only transcript, take and solve a ticket in the queue, see the analytics charts
  drawn, and download a CSV whose rows are exactly the filtered list.
- The demo customer: 404 from every workspace URL and from another customer's transcript page.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agent.demo import DEMO_CHATS
from tests.browser_fixtures import (  # noqa: F401  (browser and page are fixtures)
    LOAD_TIMEOUT_MS,
    browser,
    diagnostics,
    page,
    sign_in,
)
from tests.chainlit_server import CUSTOMER, LEAD, ChainlitServer, run_chainlit

pytestmark = pytest.mark.browser

SEED_TIMEOUT_S = 240.0  # the demo chats run through the offline engine after start, in the background
WORKSPACE_URLS = (
    "/workspace", "/workspace/conversations", "/workspace/conversations?rating=down", "/workspace/conversations.csv",
    "/workspace/tickets", "/workspace/tickets.csv", "/workspace/analytics", "/workspace/static/plotly.min.js",
    "/workspace/no-such-page",
)  # fmt: skip


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    workdir = tmp_path_factory.mktemp("chainlit-workspace")
    try:
        with run_chainlit(workdir, env={"AUTH_DEMO_CONVERSATIONS": "true"}) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def _seeded(server: ChainlitServer) -> None:
    """Wait until every demo chat, with its rating, is stored."""

    def done() -> bool:
        threads = server.rows("SELECT count(*) FROM threads")[0][0]
        rated = server.rows("SELECT count(*) FROM feedbacks")[0][0]
        return threads == len(DEMO_CHATS) and rated == sum(chat.rating is not None for chat in DEMO_CHATS)

    deadline = time.monotonic() + SEED_TIMEOUT_S
    while not done():
        assert time.monotonic() < deadline, "demo conversations not seeded in time\n" + server.log_tail()
        time.sleep(0.5)


def test_a_lead_reviews_works_the_queue_reads_the_numbers_and_exports(
    page, tmp_path: Path, chainlit_server: ChainlitServer
) -> None:
    with diagnostics(page, tmp_path, chainlit_server):
        _seeded(chainlit_server)
        # What `make run` gives a new lead: ratings, tickets and questions the assistant could not answer.
        for what, query in (("tickets", "SELECT count(*) FROM store_tickets"),
                            ("unanswered questions", "SELECT count(*) FROM content_gaps WHERE kind = 'missed'"),
                            ("facts", "SELECT count(*) FROM conversation_facts")):
            assert chainlit_server.rows(query)[0][0] > 0, f"the demo seeded no {what}"
        assert "no card to" not in chainlit_server.log_text(), "a demo chat clicked a card the engine did not show"
        cards = chainlit_server.rows("SELECT sum(cards_shown), sum(cards_declined) FROM conversation_facts")
        assert cards == [(2, 2)], cards
        _lead_flow(page, chainlit_server, tmp_path)


def _lead_flow(page, server: ChainlitServer, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    base = server.base_url
    page.goto(base + "/", wait_until="domcontentloaded")
    sign_in(page, server, LEAD)
    # The chat's welcome, for staff, leads to the workspace.
    link = page.get_by_role("link", name="support workspace")
    expect(link).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    assert urlsplit(link.get_attribute("href")).path == "/workspace/conversations"

    # Conversations: filter the thumbs-down ones with the form.
    page.goto(base + "/workspace/conversations")
    page.locator("select[name=rating]").select_option("down")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/workspace/conversations?*rating=down*")
    rows = page.locator("tbody tr")
    down = sum(chat.rating == 0 for chat in DEMO_CHATS)
    expect(rows).to_have_count(down)
    assert all(rating == "👎" for rating in page.locator("tbody td.rating").all_inner_texts())
    listed = [a.get_attribute("href") for a in page.locator("tbody td:last-child a").all()]

    # The CSV carries the same filter: exactly the listed conversations, in the same order.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    exported = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    ids = [href.rsplit("/", 1)[-1] for href in listed]
    assert [row["conversation id"] for row in exported] == ids, exported
    assert {row["last rating"] for row in exported} == {"down"}

    # Open the 👎 conversation that used a tool and cited the help centre: a read-only transcript.
    lost = page.get_by_role("link", name="Where is my order #W1001002?")
    lost.click()
    page.wait_for_url("**/share/*")
    expect(page.get_by_text("this is ridiculous, my package is lost").first).to_be_visible()
    used_a_tool = re.compile(r"^Used (list_my_orders|get_order_details)$")
    expect(page.get_by_role("heading", name=used_a_tool).first).to_be_visible()
    expect(page.get_by_text("Sources").first).to_be_visible()
    expect(page.locator("#chat-input")).to_have_count(0)  # no message box: a lead never writes as the customer
    thread_id = urlsplit(page.url).path.rsplit("/", 1)[-1]
    viewers = server.rows("SELECT viewer FROM transcript_views WHERE thread_id = ?", thread_id)
    assert (LEAD,) in viewers, viewers

    # The queue: open the oldest ticket, take it, solve it.
    page.goto(base + "/workspace/tickets")
    page.locator("tbody tr").first.locator("a").first.click()
    page.get_by_role("button", name="Assign to me").click()
    expect(page.locator("dd", has_text="You").first).to_be_visible()
    page.get_by_role("button", name="Mark solved").click()
    expect(page.locator(".badge.solved").first).to_be_visible()
    expect(page.locator(".timeline")).to_contain_text("You moved it from open to solved")
    ticket_id = urlsplit(page.url).path.rsplit("/", 1)[-1]
    changes = server.rows("SELECT kind, actor, to_value FROM store_ticket_events WHERE ticket_id = ? "
                            "AND kind != 'created' ORDER BY id", ticket_id)
    assert changes == [("assigned", LEAD, LEAD), ("status", LEAD, "solved")], changes
    status = server.rows("SELECT ticket_status FROM conversation_facts WHERE ticket_id = ?", ticket_id)
    assert status == [("solved",)], status

    # Analytics: every chart drawn by the locally served plotly.
    page.goto(base + "/workspace/analytics")  # the last 30 days: every demo chat
    charts = page.locator(".js-plotly-plot")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 3
    expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()


def test_a_customer_gets_404_from_the_workspace_and_other_customers_transcripts(
    page, tmp_path: Path, chainlit_server: ChainlitServer
) -> None:
    with diagnostics(page, tmp_path, chainlit_server):
        _seeded(chainlit_server)
        others = chainlit_server.rows(
            "SELECT t.id FROM threads t JOIN users u ON u.id = t.user_id WHERE u.identifier != ? LIMIT 1", CUSTOMER,
        )
        assert others, "the demo seeded no conversation of another customer"
        page.goto(chainlit_server.base_url + "/", wait_until="domcontentloaded")
        sign_in(page, chainlit_server, CUSTOMER)
        for path in (*WORKSPACE_URLS, f"/share/{others[0][0]}", f"/workspace/conversations/{others[0][0]}"):
            response = page.goto(chainlit_server.base_url + path)
            assert response is not None and response.status == 404, f"{path}: {response and response.status}"
            assert "Conversations" not in page.content() or path.startswith("/share/")
        # Their own conversation stays theirs to read.
        own = chainlit_server.rows("SELECT t.id FROM threads t JOIN users u ON u.id = t.user_id "
                                     "WHERE u.identifier = ? LIMIT 1", CUSTOMER)
        response = page.goto(f"{chainlit_server.base_url}/share/{own[0][0]}")
        assert response is not None and response.status == 200
