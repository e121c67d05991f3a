"""The real page in headless Chromium (Debian's, not a Playwright download) against `chainlit run app.py`:
ask and open a source, upload a file, resume a past conversation.

The page pulls Google Fonts and KaTeX CSS from CDNs; every non-loopback request is aborted, and the
test waits for the chat input instead of "networkidle".

The app requires sign-in: every test signs in through the real login page (#email, #password, the
submit button), which sets the httpOnly `access_token` cookie that the page's socket then sends.
The shared fixtures and page helpers are in tests/browser_fixtures.py; the confirmation card (with a
rule-based LLM) is in tests/test_browser_confirmation.py.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser_fixtures import (  # noqa: F401  (browser and page are fixtures)
    LOAD_TIMEOUT_MS,
    REPLY_TIMEOUT_MS,
    attach,
    browser,
    diagnostics,
    open_chat,
    page,
)
from tests.chainlit_server import (  # noqa: F401  (chainlit_server is a fixture)
    AUTH_COOKIE,
    ChainlitServer,
    chainlit_server,
    http_get,
)

pytestmark = pytest.mark.browser

PERSIST_TIMEOUT_S = 30.0


def test_ask_in_the_browser_and_open_the_source(page, tmp_path: Path, chainlit_server: ChainlitServer) -> None:
    with diagnostics(page, tmp_path, chainlit_server):
        _ask_and_open_source(page, chainlit_server)


def _ask_and_open_source(page, chainlit_server: ChainlitServer) -> None:
    from playwright.sync_api import expect

    chat_input, _ = open_chat(page, chainlit_server)

    # The welcome screen: the Support profile's description above the starters.
    expect(page.get_by_text("Larkspur Goods assistant").first).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    expect(page.get_by_text("Shipping times").first).to_be_visible()

    chat_input.click()
    chat_input.type("How long does standard shipping take?")
    chat_input.press("Enter")

    # The user's message shows up, then the streamed, cited answer.
    expect(page.get_by_text("How long does standard shipping take?").first).to_be_visible()
    reply = page.locator('[data-step-type="assistant_message"]').filter(has_text=re.compile(r"5.7 business days")).last
    expect(reply).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(reply).to_contain_text(re.compile(r"Sources:"), timeout=REPLY_TIMEOUT_MS)

    # Rate the answer: the thumbs-up opens Chainlit's comment dialog, whose submit saves the rating through
    # our ownership check in front of Chainlit's /feedback route.
    reply.locator("button.positive-feedback-off").first.click()
    page.get_by_role("dialog").locator("textarea").fill("Clear, thanks")
    with page.expect_response(lambda r: r.url.endswith("/feedback") and r.request.method == "PUT") as rated:
        page.locator("#submit-feedback").click()
    assert rated.value.ok, f"PUT /feedback answered {rated.value.status}: {rated.value.text()[:300]}"
    expect(reply.locator("button.positive-feedback-on")).to_be_visible()

    # Chainlit turns each side element's name in the message into a link; open the shipping article.
    source = reply.locator("a.element-link").filter(has_text=re.compile("Shipping Options", re.IGNORECASE)).first
    expect(source).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    source.click()

    side_panel = page.locator("#side-view-content")
    expect(side_panel).to_be_visible()
    expect(side_panel).to_contain_text("business days", timeout=REPLY_TIMEOUT_MS)
    expect(page.locator("#side-view-title")).to_contain_text(re.compile("Shipping Options", re.IGNORECASE))


def test_upload_a_pdf_and_ask_about_it(page, tmp_path: Path, chainlit_server: ChainlitServer) -> None:
    with diagnostics(page, tmp_path, chainlit_server):
        _upload_and_ask(page, chainlit_server)


def _upload_and_ask(page, chainlit_server: ChainlitServer) -> None:
    from playwright.sync_api import expect

    from tests.files import make_pdf

    invoice = make_pdf([
        ["Larkspur Goods - Invoice 88213", "Vortex blender, serial number VX-5521-B."],
        ["Extended protection plan: the blender is covered until 14 March 2031."],
    ])
    chat_input, _ = open_chat(page, chainlit_server)
    upload = attach(page, {"name": "invoice-88213.pdf", "mimeType": "application/pdf", "buffer": invoice})
    assert upload.ok, f"upload answered {upload.status}: {upload.text()[:300]}"
    expect(page.get_by_text("invoice-88213.pdf").first).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    chat_input.click()
    chat_input.type("Until when is my blender covered by the protection plan?")
    chat_input.press("Enter")

    expect(page.get_by_text(re.compile(r"I've read invoice-88213\.pdf")).first).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    reply = page.locator('[data-step-type="assistant_message"]').filter(has_text="14 March 2031").last
    expect(reply).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    source = reply.locator("a.element-link").filter(has_text="invoice-88213.pdf").first
    expect(source).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    source.click()
    expect(page.locator("#side-view-content")).to_contain_text("14 March 2031", timeout=REPLY_TIMEOUT_MS)


RETURNS_QUESTION = "How long do I have to return an item?"
OTHER_QUESTION = "Can I cancel my order?"
FOLLOW_UP = "And for exchanges?"


def test_resume_a_past_conversation_from_the_history(page, tmp_path: Path, chainlit_server: ChainlitServer) -> None:
    log_start = len(chainlit_server.log_text())
    with diagnostics(page, tmp_path, chainlit_server):
        _resume_from_history(page, chainlit_server)
        tracebacks = chainlit_server.tracebacks(since=log_start)
        assert not tracebacks, "the server logged errors while a conversation was resumed:\n" + "\n".join(tracebacks)


def _thread_id(page) -> str:
    match = re.search(r"/thread/([0-9a-f-]{36})$", urlsplit(page.url).path)
    assert match, f"the page is not showing a saved conversation: {page.url}"
    return match.group(1)


def _ask(page, chat_input, question: str) -> None:
    from playwright.sync_api import expect

    chat_input.click()
    chat_input.type(question)
    chat_input.press("Enter")
    expect(page.locator('[data-step-type="user_message"]').filter(has_text=question).last).to_be_visible()


def _resume_from_history(page, server: ChainlitServer) -> None:
    assistant = page.locator('[data-step-type="assistant_message"]')
    asked = page.locator('[data-step-type="user_message"]')  # messages only: the sidebar repeats thread names
    chat_input, socket_log = open_chat(page, server)

    first_id = _first_conversation(page, chat_input, assistant)
    second_id = _second_conversation(page, chat_input, socket_log, assistant, asked, first_id)
    entry = _history_entry(page, first_id, second_id)
    old_question = _resume(page, entry, socket_log, assistant, asked, first_id)
    _continue_resumed(page, assistant, old_question, first_id)
    _assert_follow_up_saved(page, server, first_id, second_id)


def _first_conversation(page, chat_input, assistant) -> str:
    """1. A first conversation; the page moves to its /thread/<id> address once it is saved."""
    from playwright.sync_api import expect

    _ask(page, chat_input, RETURNS_QUESTION)
    expect(assistant.filter(has_text="30 days").last).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(page).to_have_url(re.compile(r"/thread/[0-9a-f-]{36}$"), timeout=LOAD_TIMEOUT_MS)
    return _thread_id(page)


def _second_conversation(page, chat_input, socket_log, assistant, asked, first_id: str) -> str:
    """2. A new chat (confirm_new_chat = true: a dialog asks first), with a different question."""
    from playwright.sync_api import expect

    mark = socket_log.mark()
    page.locator("#header #new-chat-button").click()
    dialog = page.locator("#new-chat-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("#confirm").click()
    expect(dialog).to_be_hidden()
    expect(asked).to_have_count(0)
    socket_log.wait_for(page, "task_end", since=mark, new_connection=True)  # the new chat's session is up
    _ask(page, chat_input, OTHER_QUESTION)
    expect(assistant.filter(has_text=re.compile("cancel", re.IGNORECASE)).last).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(page).to_have_url(re.compile(r"/thread/[0-9a-f-]{36}$"), timeout=LOAD_TIMEOUT_MS)
    second_id = _thread_id(page)
    assert second_id != first_id, "the new chat kept the first conversation's thread"
    expect(asked.filter(has_text=RETURNS_QUESTION)).to_have_count(0)
    return second_id


def _history_entry(page, first_id: str, second_id: str):
    """3. The history sidebar (closed by default) lists the first conversation under its first message."""
    from playwright.sync_api import expect

    # Collapsed, it is only slid out of the viewport: Playwright still calls it visible, so read its state.
    sidebar = page.locator("div.peer[data-side][data-state]")
    if sidebar.get_attribute("data-state") != "expanded":
        page.locator("#header #sidebar-trigger-button").click()
    expect(sidebar).to_have_attribute("data-state", "expanded")
    expect(page.locator("#thread-history")).to_be_in_viewport()
    entry = page.locator(f"#thread-{first_id}")
    expect(entry).to_be_in_viewport(timeout=LOAD_TIMEOUT_MS)
    expect(entry).to_contain_text(RETURNS_QUESTION)
    expect(page.locator(f"#thread-{second_id}")).to_contain_text(OTHER_QUESTION)
    return entry


def _resume(page, entry, socket_log, assistant, asked, first_id: str):
    """4. Resume it: the old messages come back, in the first thread, and the socket reattaches to it.

    Returns the locator of the resumed question."""
    from playwright.sync_api import expect

    mark = socket_log.mark()
    entry.get_by_text(RETURNS_QUESTION).click()
    expect(page).to_have_url(re.compile(rf"/thread/{first_id}$"), timeout=LOAD_TIMEOUT_MS)
    old_question = asked.filter(has_text=RETURNS_QUESTION)
    expect(old_question).to_have_count(1, timeout=LOAD_TIMEOUT_MS)
    expect(assistant.filter(has_text="30 days")).to_have_count(1, timeout=LOAD_TIMEOUT_MS)
    expect(asked.filter(has_text=OTHER_QUESTION)).to_have_count(0)
    socket_log.wait_for(page, "resume_thread", since=mark, new_connection=True)
    return old_question


def _continue_resumed(page, assistant, old_question, first_id: str) -> None:
    """5. Continue it: the follow-up is answered in the same, resumed thread."""
    from playwright.sync_api import expect

    answers_before = assistant.count()
    chat_input = page.locator("#chat-input")
    _ask(page, chat_input, FOLLOW_UP)
    expect(assistant).to_have_count(answers_before + 1, timeout=REPLY_TIMEOUT_MS)
    reply = assistant.last
    expect(reply).to_contain_text(re.compile(r"exchang|30 days", re.IGNORECASE), timeout=REPLY_TIMEOUT_MS)
    expect(reply).to_contain_text("Sources:", timeout=REPLY_TIMEOUT_MS)
    assert _thread_id(page) == first_id, f"the follow-up moved the page to another thread: {page.url}"
    expect(old_question).to_have_count(1)  # still the resumed conversation, above the new turn


def _assert_follow_up_saved(page, server: ChainlitServer, first_id: str, second_id: str) -> None:
    """6. The server saved the follow-up and its answer into the resumed thread, not into a new one."""
    token = next(c["value"] for c in page.context.cookies(server.base_url) if c["name"] == AUTH_COOKIE)
    deadline = time.monotonic() + PERSIST_TIMEOUT_S
    while True:
        status, _, body = http_get(f"{server.base_url}/project/thread/{first_id}", token=token)
        assert status == 200, f"GET /project/thread/{first_id} answered {status}: {body[:300]}"
        steps = json.loads(body)["steps"]
        said = [s["output"] for s in steps if s["type"] == "user_message"]
        answers = [s["output"] or "" for s in steps if s["type"] == "assistant_message"]
        if said == [RETURNS_QUESTION, FOLLOW_UP] and len(answers) == 2 and "Sources:" in answers[-1]:
            break
        assert time.monotonic() < deadline, f"the resumed thread holds {said!r} / {answers!r}"
        time.sleep(0.5)
    status, _, body = http_get(f"{server.base_url}/project/thread/{second_id}", token=token)
    assert status == 200 and FOLLOW_UP not in body, f"the follow-up landed in the other thread: {body[:500]}"
