"""The real page in headless Chromium (Debian's, not a Playwright download) against `chainlit run app.py`.

The page pulls Google Fonts and KaTeX CSS from CDNs; every non-loopback request is aborted, and the
test waits for the chat input instead of "networkidle".

The app requires sign-in: every test signs in through the real login page (#email, #password, the
submit button), which sets the httpOnly `access_token` cookie that the page's socket then sends.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.chainlit_server import (  # noqa: F401  (chainlit_server is a fixture)
    AUTH_COOKIE,
    CUSTOMER,
    DEMO_PASSWORD,
    ChainlitServer,
    chainlit_server,
    http_get,
    run_chainlit,
)
from tests.fake_llm import Call, RuleBasedOpenAI, Say
from tests.conftest import require

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOAD_TIMEOUT_MS = 60_000
REPLY_TIMEOUT_MS = 90_000
ATTACH_TIMEOUT_MS = 20_000
PERSIST_TIMEOUT_S = 30.0
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    require(CHROMIUM.exists(), "Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser, tmp_path: Path, chainlit_server: ChainlitServer):
    """A fresh page that may only reach the loopback server; its screenshot and console land in tmp_path."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    context.set_default_timeout(LOAD_TIMEOUT_MS)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
    page.on("pageerror", lambda exc: console.append(f"[pageerror] {exc}"))

    def only_loopback(route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK_HOSTS:
            route.continue_()
        else:
            route.abort()

    page.route("**/*", only_loopback)
    try:
        yield page
    finally:
        (tmp_path / "console.log").write_text("\n".join(console), encoding="utf-8")
        context.close()


@contextlib.contextmanager
def diagnostics(page, tmp_path: Path, server: ChainlitServer) -> Iterator[None]:
    """Always save a screenshot; on failure, name it and add the server log to the error."""
    try:
        yield
    except Exception as exc:
        shot = _screenshot(page, tmp_path / "failure.png")
        raise AssertionError(
            f"{type(exc).__name__}: {exc}\nscreenshot: {shot}\nbrowser console: {tmp_path / 'console.log'}\n"
            f"{server.log_tail()}"
        ) from exc
    else:
        _screenshot(page, tmp_path / "final.png")


def _screenshot(page, path: Path) -> str:
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception as exc:  # noqa: BLE001 - a debugging aid, never the verdict
        return f"<screenshot failed: {exc}>"
    return str(path)


class SocketLog:
    """Every socket.io packet the page receives, whether over the websocket or (before the upgrade) HTTP polling.

    Packets are engine.io text: "40{...}" is a socket.io connect, '42["task_end",{}]' an event.
    """

    def __init__(self, page) -> None:
        self.packets: list[str] = []
        self._polls: list = []  # polling responses, read lazily from the test's own flow, never in a handler
        self._read = 0
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: self.packets.append(str(payload))))
        page.on("response", self._on_response)

    def _on_response(self, response) -> None:
        if "/ws/socket.io/" in response.url and response.request.method == "GET":
            self._polls.append(response)

    def _collect(self) -> list[str]:
        while self._read < len(self._polls):
            response = self._polls[self._read]
            self._read += 1
            try:
                body = response.text()
            except Exception:  # noqa: BLE001 - a body gone with a navigation holds nothing we wait for
                continue
            self.packets.extend(body.split("\x1e"))  # a polling response batches packets
        return self.packets

    def mark(self) -> int:
        return len(self._collect())

    def wait_for(self, page, event: str, since: int = 0, new_connection: bool = False,
                 timeout_ms: float = LOAD_TIMEOUT_MS) -> None:
        """Wait for a packet of socket.io event `event` after position `since` (after a fresh socket.io
        connect there, with `new_connection`: the old socket may still be sending when the page moves on)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while not self._seen(event, since, new_connection):
            assert time.monotonic() < deadline, (
                f"no {event} from the server within {timeout_ms / 1000:.0f} s; last packets: {self.packets[-8:]}"
            )
            page.wait_for_timeout(100)

    def _seen(self, event: str, since: int, new_connection: bool) -> bool:
        packets = self._collect()[since:]
        if new_connection:
            connects = [i for i, packet in enumerate(packets) if packet.startswith("40")]
            if not connects:
                return False
            packets = packets[connects[0]:]
        return any(packet.startswith(f'42["{event}"') for packet in packets)


def sign_in(page, server: ChainlitServer, username: str = CUSTOMER, password: str = DEMO_PASSWORD) -> None:
    """Fill in and submit the real login page, which the app shows before anything else."""
    from playwright.sync_api import expect

    email = page.locator("#email")
    expect(email).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    assert urlsplit(page.url).path == "/login", f"the page did not ask for a sign-in first: {page.url}"
    email.fill(username)
    page.locator("#password").fill(password)
    with page.expect_response(
        lambda r: urlsplit(r.url).path == "/login" and r.request.method == "POST", timeout=LOAD_TIMEOUT_MS
    ) as login:
        page.locator('button[type="submit"]').click()
    assert login.value.status == 200, f"POST /login answered {login.value.status}: {login.value.text()[:300]}"
    cookie = [c for c in page.context.cookies(server.base_url) if c["name"] == AUTH_COOKIE]
    assert cookie and cookie[0]["httpOnly"], f"no httpOnly {AUTH_COOKIE} cookie after signing in: {cookie}"


def open_chat(page, server: ChainlitServer) -> tuple[object, SocketLog]:
    """Load the page, sign in, and wait until the chat session exists on the server.

    The page shows its input before the socket session is up; a message sent or a file
    attached before that is lost. The task_end packet that answers `connection_successful` says the session
    is ready. Returns the chat input and the socket log (for later waits).
    """
    from playwright.sync_api import expect

    socket_log = SocketLog(page)
    page.goto(server.base_url + "/", wait_until="domcontentloaded")
    sign_in(page, server)
    chat_input = page.locator("#chat-input")
    expect(chat_input).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    socket_log.wait_for(page, "task_end", new_connection=True)
    return chat_input, socket_log


def attach(page, file: dict, attempts: int = 3):
    """Attach a file through the composer's file input; returns the upload's HTTP response.

    React may re-mount the input just after the page settles (the route moves to /thread/<id>),
    and files set on the detached input go nowhere: no upload request means "set them again".
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, attempts + 1):
        try:
            with page.expect_response(lambda r: "/project/file" in r.url and r.request.method == "POST",
                                      timeout=ATTACH_TIMEOUT_MS) as upload:
                page.locator("#upload-button-input").set_input_files(files=[file])
            return upload.value
        except PlaywrightTimeout:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


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
    from playwright.sync_api import expect

    assistant = page.locator('[data-step-type="assistant_message"]')
    asked = page.locator('[data-step-type="user_message"]')  # messages only: the sidebar repeats thread names
    chat_input, socket_log = open_chat(page, server)

    # 1. A first conversation; the page moves to its /thread/<id> address once it is saved.
    _ask(page, chat_input, RETURNS_QUESTION)
    expect(assistant.filter(has_text="30 days").last).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(page).to_have_url(re.compile(r"/thread/[0-9a-f-]{36}$"), timeout=LOAD_TIMEOUT_MS)
    first_id = _thread_id(page)

    # 2. A new chat (confirm_new_chat = true: a dialog asks first), with a different question.
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

    # 3. The history sidebar (closed by default) lists the first conversation under its first message.
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

    # 4. Resume it: the old messages come back, in the first thread, and the socket reattaches to it.
    mark = socket_log.mark()
    entry.get_by_text(RETURNS_QUESTION).click()
    expect(page).to_have_url(re.compile(rf"/thread/{first_id}$"), timeout=LOAD_TIMEOUT_MS)
    old_question = asked.filter(has_text=RETURNS_QUESTION)
    expect(old_question).to_have_count(1, timeout=LOAD_TIMEOUT_MS)
    expect(assistant.filter(has_text="30 days")).to_have_count(1, timeout=LOAD_TIMEOUT_MS)
    expect(asked.filter(has_text=OTHER_QUESTION)).to_have_count(0)
    socket_log.wait_for(page, "resume_thread", since=mark, new_connection=True)

    # 5. Continue it: the follow-up is answered in the same, resumed thread.
    answers_before = assistant.count()
    chat_input = page.locator("#chat-input")
    _ask(page, chat_input, FOLLOW_UP)
    expect(assistant).to_have_count(answers_before + 1, timeout=REPLY_TIMEOUT_MS)
    reply = assistant.last
    expect(reply).to_contain_text(re.compile(r"exchang|30 days", re.IGNORECASE), timeout=REPLY_TIMEOUT_MS)
    expect(reply).to_contain_text("Sources:", timeout=REPLY_TIMEOUT_MS)
    assert _thread_id(page) == first_id, f"the follow-up moved the page to another thread: {page.url}"
    expect(old_question).to_have_count(1)  # still the resumed conversation, above the new turn

    # 6. The server saved the follow-up and its answer into the resumed thread, not into a new one.
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
