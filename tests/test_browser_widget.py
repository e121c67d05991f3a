"""The assistant inside a shop's page (examples/shop), in headless Chromium: the shop's backend signs its customer's
token, Chainlit's copilot widget signs in with it (POST /auth/jwt, agent/web/widget.py), and the customer cancels an
order without ever typing a password. A forged or expired token opens no session and says why.

The app and the shop run on two loopback ports: two origins (so CORS and AUTH_WIDGET_ORIGIN matter) but one site,
so Chainlit's SameSite=lax cookie is sent. The shared fixtures are in tests/browser_fixtures.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import jwt
import pytest

from tests.browser_fixtures import (  # noqa: F401  (browser and page are fixtures)
    LOAD_TIMEOUT_MS,
    LOOPBACK_HOSTS,
    REPLY_TIMEOUT_MS,
    SocketLog,
    browser,
    diagnostics,
    page,
)
from tests.chainlit_server import (
    AUTH_COOKIE,
    CUSTOMER,
    LEAD,
    ROOT,
    ChainlitServer,
    cookies_set,
    post_empty,
    http_get,
    server_without_docs,
)
from tests.processes import app_env, free_port, log_tail, stop

pytestmark = pytest.mark.browser

WIDGET_SECRET = "shop-widget-secret-" + "w" * 40
SHOP_SERVER = ROOT / "examples" / "shop" / "server.py"
SHOP_STARTUP_TIMEOUT_S = 20.0
CUSTOMER_ID = "dana_whitfield_1001"
PENDING_ORDER = "#W1001004"  # Dana's, pending (see tests/test_dialogue_engine.py)
REFUSED = "Your sign-in from the shop has expired or is not valid. Reload the page to sign in again."
TOKEN_LIFETIME_S = 300
QUIET_AFTER_REFUSAL_MS = 3_000  # time for a socket the widget should not open to show up anyway


@dataclass
class Shop:
    url: str
    log_path: Path
    process: subprocess.Popen = field(repr=False)


@pytest.fixture(scope="module")
def shop_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory: pytest.TempPathFactory, shop_port: int) -> Iterator[ChainlitServer]:
    """The app accepting the shop's tokens and its origin (an empty help centre: the test only cancels an order)."""
    env = {"AUTH_WIDGET_SECRET": WIDGET_SECRET, "AUTH_WIDGET_ORIGIN": f"http://127.0.0.1:{shop_port}"}
    yield from server_without_docs(tmp_path_factory, "chainlit-widget", env)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, chainlit_server: ChainlitServer, shop_port: int) -> Iterator[Shop]:
    """examples/shop/server.py as README says to run it, signing for the demo customer Dana."""
    log_path = tmp_path_factory.mktemp("shop") / "shop.log"
    env = app_env({"SHOP_PORT": str(shop_port), "SHOP_APP_URL": chainlit_server.base_url,
                   "SHOP_WIDGET_SECRET": WIDGET_SECRET, "SHOP_CUSTOMER_ID": CUSTOMER_ID,
                   "SHOP_CUSTOMER_EMAIL": CUSTOMER})
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([sys.executable, str(SHOP_SERVER)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{shop_port}"
    try:
        _wait_until_serving(url, process, log_path)
        yield Shop(url, log_path, process)
    finally:
        stop(process)


def _wait_until_serving(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SHOP_STARTUP_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(url + "/", timeout=2.0) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the example shop did not serve {url}\n{log_tail(log_path, 30)}", pytrace=False)
        time.sleep(0.2)


@pytest.fixture
def outside_requests(page) -> list[str]:
    """Every request of `page` that tried to leave loopback (the `page` fixture aborts them): none is expected."""
    tried: list[str] = []

    def note(route) -> None:
        if urlsplit(route.request.url).hostname not in LOOPBACK_HOSTS:
            tried.append(route.request.url)
        route.fallback()  # on to the `page` fixture's own routing

    page.route("**/*", note)
    return tried


def test_a_shop_customer_cancels_an_order_in_the_widget(page, outside_requests: list[str], tmp_path: Path, shop: Shop,
                                                        chainlit_server: ChainlitServer) -> None:
    with diagnostics(page, tmp_path, chainlit_server):
        _cancel_in_the_widget(page, shop, chainlit_server)
    assert not outside_requests, f"the shop page tried to load from outside: {outside_requests}"


def _cancel_in_the_widget(page, shop: Shop, server: ChainlitServer) -> None:
    from playwright.sync_api import expect

    sockets = SocketLog(page)
    with page.expect_response(lambda r: r.url == f"{server.base_url}/auth/jwt") as signed_in:
        page.goto(shop.url + "/", wait_until="domcontentloaded")
    assert signed_in.value.status == 200, f"POST /auth/jwt answered {signed_in.value.status}: {signed_in.value.text()}"
    assert [c for c in page.context.cookies(server.base_url) if c["name"] == AUTH_COOKIE and c["httpOnly"]]

    page.locator("#chainlit-copilot-button").click()
    chat_input = page.locator("#chainlit-copilot #chat-input")
    expect(chat_input).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    sockets.wait_for(page, "task_end", new_connection=True)  # the session exists: a message now is not lost
    chat_input.click()
    chat_input.type(f"please cancel order {PENDING_ORDER}, I ordered it by mistake")
    chat_input.press("Enter")

    card = page.locator('[data-step-type="assistant_message"]').filter(has_text="Please confirm this change").last
    expect(card).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(card).to_contain_text(f"Cancel order {PENDING_ORDER}")
    assert _order_status(server, PENDING_ORDER) == "pending", "nothing may change before the click"
    card.get_by_role("button", name="Confirm").click()
    done = page.locator('[data-step-type="assistant_message"]').filter(has_text=f"Order {PENDING_ORDER} is cancelled")
    expect(done.last).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    assert _order_status(server, PENDING_ORDER) == "cancelled"
    # The conversation is the shop customer's, signed in as themselves.
    owners = server.rows("SELECT DISTINCT u.identifier FROM threads t JOIN users u ON u.id = t.user_id")
    assert owners == [(CUSTOMER,)], owners


def _jwt_sign_in(server: ChainlitServer, token: str) -> tuple[int, dict[str, str], str]:
    """What the copilot sends with its `accessToken`."""
    return post_empty(server.base_url, "/auth/jwt", {"Authorization": f"Bearer {token}"})


def test_the_widget_signs_in_customers_only(chainlit_server: ChainlitServer) -> None:
    """The rules of the header sign-in (agent.web.auth.widget_customer): a shop token naming a lead's email is
    refused, whoever signed it; a customer is signed in as a customer."""
    status, headers, body = _jwt_sign_in(chainlit_server, _token(WIDGET_SECRET, TOKEN_LIFETIME_S, email=LEAD))
    assert (status, json.loads(body)["detail"]) == (401, REFUSED), body
    assert not cookies_set(headers).get(AUTH_COOKIE), headers.get("set-cookie")

    status, headers, body = _jwt_sign_in(chainlit_server, _token(WIDGET_SECRET, TOKEN_LIFETIME_S))
    assert status == 200, f"{body[:300]}\n{chainlit_server.log_tail()}"
    status, _, body = http_get(f"{chainlit_server.base_url}/user", token=cookies_set(headers)[AUTH_COOKIE])
    user = json.loads(body)
    assert (user["identifier"], user["metadata"]["role"]) == (CUSTOMER, "customer"), user


def _forged() -> str:
    return _token(WIDGET_SECRET + "-not-the-shop", expires_in=TOKEN_LIFETIME_S)


def _expired() -> str:
    return _token(WIDGET_SECRET, expires_in=-TOKEN_LIFETIME_S)


def _token(secret: str, expires_in: int, email: str = CUSTOMER) -> str:
    claims = {"sub": CUSTOMER_ID, "email": email, "name": "Dana", "aud": "larkspur-support",
              "exp": int(time.time()) + expires_in}
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.mark.parametrize("bad_token", [_forged, _expired], ids=["forged", "expired"])
def test_a_bad_shop_token_opens_no_session(page, outside_requests: list[str], tmp_path: Path, shop: Shop,
                                           chainlit_server: ChainlitServer, bad_token) -> None:
    with diagnostics(page, tmp_path, chainlit_server):
        _refused_in_the_widget(page, shop, chainlit_server, bad_token())
    assert not outside_requests, f"the shop page tried to load from outside: {outside_requests}"


def _refused_in_the_widget(page, shop: Shop, server: ChainlitServer, token: str) -> None:
    from playwright.sync_api import expect

    threads_before = server.rows("SELECT count(*) FROM threads")[0][0]
    sockets: list[str] = []
    page.on("request", lambda r: sockets.append(r.url) if "/ws/socket.io" in r.url else None)
    page.on("websocket", lambda ws: sockets.append(ws.url))
    # The shop's real page, handed a bad token instead of the one its backend signs.
    page.route(f"{shop.url}/widget-config", lambda route: route.fulfill(
        content_type="application/json", body=json.dumps({"chainlitServer": server.base_url, "accessToken": token})))

    with page.expect_response(lambda r: r.url == f"{server.base_url}/auth/jwt") as refused:
        page.goto(shop.url + "/", wait_until="domcontentloaded")
    assert refused.value.status == 401, f"POST /auth/jwt answered {refused.value.status}: {refused.value.text()}"
    assert refused.value.json()["detail"] == REFUSED

    page.locator("#chainlit-copilot-button").click()
    expect(page.locator("#chainlit-copilot-chat").get_by_text(REFUSED)).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    expect(page.locator("#chainlit-copilot #chat-input")).to_have_count(0)
    page.wait_for_timeout(QUIET_AFTER_REFUSAL_MS)
    assert not [c for c in page.context.cookies(server.base_url) if c["name"].startswith(AUTH_COOKIE)]
    assert not sockets, f"the widget opened a socket without a session: {sockets}"
    assert server.rows("SELECT count(*) FROM threads")[0][0] == threads_before


def _order_status(server: ChainlitServer, order_id: str) -> str:
    return server.rows("SELECT status FROM store_orders WHERE id = ?", order_id)[0][0]
