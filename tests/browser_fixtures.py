"""Shared fixtures and helpers for the real page in headless Chromium (Debian's, not a Playwright download)
against `chainlit run app.py`: tests/test_browser.py, tests/test_browser_confirmation.py and
tests/test_browser_dialogue.py import them by name.

The page may only reach the loopback server: a request to anywhere else is aborted, and fails the test at its
end (Chainlit's page would load KaTeX's CSS from a CDN and Google Fonts; agent/web/chat_page.py drops them).
The tests wait for the chat input instead of "networkidle".

The `page` fixture depends on a `chainlit_server` fixture, which each test module provides (imported from
tests/chainlit_server.py, or a module's own).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.chainlit_server import AUTH_COOKIE, CUSTOMER, DEMO_PASSWORD, ChainlitServer
from tests.conftest import require

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

    outside: list[str] = []

    def only_loopback(route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK_HOSTS or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    try:
        yield page
    finally:
        (tmp_path / "console.log").write_text("\n".join(console), encoding="utf-8")
        context.close()
    assert not outside, f"the page tried to load from outside the server: {outside}"


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
        # Websocket frames and polling responses in the order they arrived. A polling body is read lazily
        # (from the test's own flow, never in a handler), but keeps its place: a socket.io connect sent
        # over polling must not be logged after the websocket frames that followed it.
        self._arrived: list = []
        self._read = 0
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: self._arrived.append(str(payload))))
        page.on("response", self._on_response)

    def _on_response(self, response) -> None:
        if "/ws/socket.io/" in response.url and response.request.method == "GET":
            self._arrived.append(response)

    def _collect(self) -> list[str]:
        while self._read < len(self._arrived):
            entry = self._arrived[self._read]
            self._read += 1
            if isinstance(entry, str):
                self.packets.append(entry)
                continue
            try:
                body = entry.text()
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


def open_chat(page, server: ChainlitServer, password: str = DEMO_PASSWORD) -> tuple[object, SocketLog]:
    """Load the page, sign in, and wait until the chat session exists on the server.

    The page shows its input before the socket session is up; a message sent or a file
    attached before that is lost. The task_end packet that answers `connection_successful` says the session
    is ready. Returns the chat input and the socket log (for later waits).
    """
    from playwright.sync_api import expect

    socket_log = SocketLog(page)
    page.goto(server.base_url + "/", wait_until="domcontentloaded")
    sign_in(page, server, password=password)
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


def send(page, chat_input, text: str) -> None:
    """Type a message and press Enter; returns once the page shows it."""
    from playwright.sync_api import expect

    chat_input.click()
    chat_input.type(text)
    chat_input.press("Enter")
    expect(page.locator('[data-step-type="user_message"]').filter(has_text=text).last).to_be_visible()


def reply(page, text: "str | re.Pattern[str]"):
    """The latest assistant message containing `text`, once visible."""
    from playwright.sync_api import expect

    found = page.locator('[data-step-type="assistant_message"]').filter(has_text=text).last
    expect(found).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    return found
