"""The real page in headless Chromium (Debian's, not a Playwright download) against `chainlit run app.py`.

The page pulls Google Fonts and KaTeX CSS from CDNs; every non-loopback request is aborted, and the
test waits for the chat input instead of "networkidle".
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.chainlit_server import ChainlitServer, chainlit_server  # noqa: F401  (fixture)
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
REPLY_TIMEOUT_MS = 60_000
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


def open_chat(page, server: ChainlitServer):
    """Load the page and wait until its chat session exists on the server.

    The page shows its input before the socket session is up; a message sent or a file
    attached before that is lost. on_chat_start's task_end frame says the session is ready.
    """
    from playwright.sync_api import expect

    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    page.goto(server.base_url + "/", wait_until="domcontentloaded")
    chat_input = page.locator("#chat-input")
    expect(chat_input).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    deadline = time.monotonic() + LOAD_TIMEOUT_MS / 1000
    while not any('"task_end"' in frame for frame in frames):
        assert time.monotonic() < deadline, f"the chat session never started; last frames: {frames[-5:]}"
        page.wait_for_timeout(100)
    return chat_input


def test_ask_in_the_browser_and_open_the_source(page, tmp_path: Path, chainlit_server: ChainlitServer) -> None:
    with diagnostics(page, tmp_path, chainlit_server):
        _ask_and_open_source(page, chainlit_server)


def _ask_and_open_source(page, chainlit_server: ChainlitServer) -> None:
    from playwright.sync_api import expect

    chat_input = open_chat(page, chainlit_server)

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
    chat_input = open_chat(page, chainlit_server)
    with page.expect_response(lambda r: "/project/file" in r.url and r.request.method == "POST",
                              timeout=REPLY_TIMEOUT_MS) as upload:
        page.locator('input[type="file"]').first.set_input_files(
            files=[{"name": "invoice-88213.pdf", "mimeType": "application/pdf", "buffer": invoice}]
        )
    assert upload.value.ok, f"upload answered {upload.value.status}: {upload.value.text()[:300]}"
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
