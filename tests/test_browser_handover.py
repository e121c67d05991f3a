"""Live hand-over in two headless Chromium contexts on one `chainlit run app.py`: the customer asks for a human,
the demo lead takes the ticket over from the queue and replies, the two chat, the lead hands back and the
assistant answers again. Then the rules: a customer reaches none of the hand-over routes, and a reply to a
customer who is away waits in the thread and in the outbox. tests/test_cluster_handover.py runs the same
exchange with the customer and the lead on two instances.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser_fixtures import (  # noqa: F401  (browser and page are fixtures)
    REPLY_TIMEOUT_MS,
    browser,
    diagnostics,
    open_chat,
    page,
    reply,
    send,
)
from tests.chainlit_server import CUSTOMER, ChainlitServer, login, run_chainlit
from tests.handover_flow import (
    LEAD_NAME, ask_for_a_human, hand_back, lead_page, open_queue_ticket, take_over, write_as_lead,
)  # fmt: skip

pytestmark = pytest.mark.browser
SAM, SAM_PASSWORD = "sam@larkspurgoods.example", "sam-" + "p" * 16  # a second lead, added by the test
SAM_SAYS = "Sam here, I can help too."
NOTE = "Internal: customer was promised a call back."
LIVE_WAIT_MS = 10_000  # "within a second" is what the relay gives; the wait only bounds a failing test


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    try:
        with run_chainlit(tmp_path_factory.mktemp("chainlit-handover")) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def test_a_lead_takes_over_chats_with_the_customer_and_hands_back(
    page, browser, tmp_path: Path, chainlit_server: ChainlitServer
) -> None:
    from playwright.sync_api import expect

    server = chainlit_server
    with diagnostics(page, tmp_path, server), lead_page(browser, server, tmp_path) as lead:
        chat_input, _ = open_chat(page, server)
        ticket_id = ask_for_a_human(page, chat_input)

        open_queue_ticket(lead, server.base_url, ticket_id)
        take_over(lead)
        panel = lead.locator("section", has=lead.locator("#customer-title"))  # through the store's read tools
        expect(panel).to_contain_text("dana@example.com")
        expect(panel).to_contain_text("#W1001001")
        joined = reply(page, f"{LEAD_NAME} from Larkspur Goods support has joined the conversation")
        expect(joined).to_be_visible(timeout=LIVE_WAIT_MS)

        _a_second_lead_is_refused(server, ticket_id)
        _the_customer_reaches_no_hand_over_route(server, ticket_id, page.context.cookies(server.base_url))
        write_as_lead(lead, "Hi Dana, I'm Lee. I'm looking at your account now.")
        answer = page.locator('[data-step-type="assistant_message"]').filter(has_text="I'm looking at your account now")
        expect(answer).to_be_visible(timeout=LIVE_WAIT_MS)
        expect(answer.get_by_role("img", name=f"Avatar for {LEAD_NAME}")).to_have_count(1)

        send(page, chat_input, "Thanks Lee! It's about my order W1001002.")
        expect(lead.locator("#chat li.customer").filter(has_text="It's about my order W1001002")).to_be_visible(
            timeout=LIVE_WAIT_MS)
        page.wait_for_timeout(1500)  # the assistant stays quiet: nothing follows the customer's message
        assert page.locator('[data-step-type="assistant_message"]').last.inner_text().find("looking at your") >= 0

        hand_back(lead)
        reply(page, f"{LEAD_NAME} has left; the assistant is back")
        send(page, chat_input, "How long does standard shipping take?")
        reply(page, "business days")
        _avatars_tell_the_human_from_the_assistant(server)
        assert NOTE not in page.content() and SAM_SAYS not in page.content()
        lead.goto(server.base_url + "/workspace/analytics")  # the numbers count the hand-over
        for metric, says in (("human_pickup_p50", "escalation → taken over, 1 conversations"),
                             ("human_first_reply_p50", "escalation → first reply, 1 conversations")):
            tile = lead.locator(".tile", has=lead.locator(f'[data-metric="{metric}"]'))
            expect(tile).to_contain_text(says)
            assert tile.locator("dd").inner_text().strip() not in ("", "—")

    thread_id = server.rows("SELECT conversation_id FROM store_tickets WHERE id = ?", ticket_id)[0][0]
    steps = server.rows("SELECT name, type, output, metadata FROM steps WHERE thread_id = ? ORDER BY created_at, id",
                  thread_id)
    human = [(name, output) for name, kind, output, meta in steps if '"human": true' in (meta or "")]
    assert (LEAD_NAME, "Hi Dana, I'm Lee. I'm looking at your account now.") in human, steps
    assert any(output == "Thanks Lee! It's about my order W1001002." for _, kind, output, _ in steps
               if kind == "user_message")  # fmt: skip
    [(pickup, first_reply)] = server.rows("SELECT human_pickup_ms, human_first_reply_ms FROM conversation_facts "
                                            "WHERE thread_id = ?", thread_id)
    assert pickup is not None and first_reply is not None and first_reply >= pickup
    assert server.rows("SELECT count(*) FROM outbox")[0][0] == 0  # the customer was there for every reply
    assert not [output for _, _, output, _ in steps if NOTE in output or SAM_SAYS in output]


def _avatars_tell_the_human_from_the_assistant(server: ChainlitServer) -> None:
    import httpx

    human = httpx.get(f"{server.base_url}/avatars/{LEAD_NAME}", timeout=30)
    assert human.headers["content-type"].startswith("image/svg+xml") and ">LD</text>" in human.text
    assistant = httpx.get(f"{server.base_url}/avatars/Larkspur Assistant", timeout=30)
    assert assistant.status_code == 200 and "</text>" not in assistant.text  # public/avatars' own file


def _the_customer_reaches_no_hand_over_route(server: ChainlitServer, ticket_id: str, cookies: list[dict]) -> None:
    """Dana, signed in, on her own conversation's ticket: every hand-over route is a 404, as for a page that
    does not exist (the lead reaches the same ticket's routes in this test)."""
    import httpx

    jar = {cookie["name"]: cookie["value"] for cookie in cookies}
    ticket = f"/workspace/tickets/{ticket_id}"
    with httpx.Client(base_url=server.base_url, cookies=jar, follow_redirects=False, timeout=30) as dana:
        assert dana.get("/user").json()["identifier"] == CUSTOMER  # signed in: refused as a customer, not anonymous
        for method, path in (("GET", "/live"), ("GET", "/live/events"), ("POST", "/takeover"), ("POST", "/handback"),
                             ("POST", "/live/messages")):
            response = dana.request(method, ticket + path, data={"text": "I'm the lead now", "csrf": "x"})
            assert response.status_code == 404, (method, path, response.status_code)
        assert dana.get("/workspace/static/live.js").status_code == 404


def _a_second_lead_is_refused(server: ChainlitServer, ticket_id: str) -> None:
    """Sam, another lead, sees who holds the conversation and can neither write in it, take it, nor hand it back;
    the internal note Sam adds stays with the ticket."""
    import httpx

    url = f"sqlite+aiosqlite:///{server.database_path}"
    subprocess.run([sys.executable, "-m", "agent.users", "--database-url", url, "add", "--identifier", SAM,
                    "--role", "lead", "--display-name", "Sam Ortiz", "--password", SAM_PASSWORD], check=True)
    base, ticket = server.base_url, f"/workspace/tickets/{ticket_id}"
    with httpx.Client(base_url=base, cookies={"access_token": login(base, SAM, SAM_PASSWORD)}, timeout=30) as sam:
        live = sam.get(ticket + "/live")
        assert live.status_code == 200 and f"Taken over by {LEAD_NAME}." in live.text
        assert 'id="reply-text"' not in live.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', sam.get(ticket).text).group(1)
        for action in ("/takeover", "/handback", "/live/messages"):  # a form from elsewhere: refused before all
            assert sam.post(ticket + action, data={"csrf": "0" * len(csrf), "text": SAM_SAYS}).status_code == 403
        refused = sam.post(ticket + "/live/messages", data={"csrf": csrf, "text": SAM_SAYS},
                           headers={"Accept": "application/json"})  # fmt: skip
        assert refused.status_code == 409 and f"taken over by {LEAD_NAME}" in refused.json()["detail"]
        assert sam.post(ticket + "/takeover", data={"csrf": csrf}).status_code == 409
        assert sam.post(ticket + "/handback", data={"csrf": csrf}).status_code == 409
        kept = sam.post(ticket + "/assign", data={"csrf": csrf, "to": "me"})  # the ticket stays with the holder
        assert kept.status_code == 409 and "is chatting with the customer" in kept.text
        assert sam.post(ticket + "/notes", data={"csrf": csrf, "note": NOTE}).status_code == 303


def test_a_reply_to_an_absent_customer_waits_in_the_thread_and_the_outbox(
    page, browser, tmp_path: Path, chainlit_server: ChainlitServer
) -> None:
    from playwright.sync_api import expect

    server = chainlit_server
    with diagnostics(page, tmp_path, server), lead_page(browser, server, tmp_path) as lead:
        chat_input, _ = open_chat(page, server)
        ticket_id = ask_for_a_human(page, chat_input)
        page.goto("about:blank")  # the customer leaves: their socket closes
        open_queue_ticket(lead, server.base_url, ticket_id)
        take_over(lead)
        write_as_lead(lead, "Dana, your replacement ships today.")
        thread_id = server.rows("SELECT conversation_id FROM store_tickets WHERE id = ?", ticket_id)[0][0]
        rows = server.rows("SELECT thread_id, recipient, body FROM outbox")
        assert (thread_id, CUSTOMER, "Dana, your replacement ships today.") in rows, rows

        page.goto(f"{server.base_url}/thread/{thread_id}", wait_until="domcontentloaded")  # back later
        expect(page.get_by_text("Dana, your replacement ships today.")).to_be_visible(timeout=REPLY_TIMEOUT_MS)

        lead.get_by_role("button", name="Mark solved").click()  # a solved ticket ends the human session
        reply(page, f"{LEAD_NAME} has marked this conversation solved")
        assert server.rows("SELECT end_reason FROM handovers WHERE thread_id = ?", thread_id) == [("solved",)]
        assert server.rows("SELECT status FROM store_tickets WHERE id = ?", ticket_id) == [("solved",)]
