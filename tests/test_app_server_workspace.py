"""The real `chainlit run app.py` process: the support-lead workspace under /workspace (agent/web/workspace.py).

Staff (a lead or an admin in the users table, read on every request) get the conversation list, each row
linking to the read-only transcript /share/<id>. Everyone else, the demo customer, a shop-widget customer, an
anonymous visitor, a forged cookie, and everyone while sign-in is off, gets the 404 an unknown URL gets.

Threads are written straight into the server's SQLite database through the data layer, like
tests/test_app_server_sharing.py (whose helpers this module reuses), so no chat is needed and the server skips
the help centre.
"""

from __future__ import annotations

import asyncio
import html
import re
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import closing

import pytest
from markupsafe import escape

from agent.datalayer.store import ChatStore
from agent.users import create_user
from agent.web.workspace import PAGE_SIZE
from tests.app_server_fixtures import (  # noqa: F401  (the sign-ins are fixtures; chainlit_server is ours below)
    AUTH_COOKIE,
    CUSTOMER,
    DEMO_PASSWORD,
    LEAD,
    ChainlitServer,
    cookies_set,
    dana_sign_in,
    dana_token,
    http_get,
    lead_token,
    login,
)
from tests.chainlit_server import run_chainlit
from tests.test_app_server_auth import WIDGET_SECRET, _widget_sign_in, _widget_token
from tests.test_app_server_sharing import _create_thread, _url, _with_store

pytestmark = pytest.mark.server

WORKSPACE_URLS = ("/workspace", "/workspace/conversations", "/workspace/", "/workspace/no-such-page",
                  "/workspace/conversations?rating=down&customer=dana", "/workspace/conversations?cursor=not-a-cursor",
                  "/workspace/conversations?from=garbage")
HOSTILE = '<img src=x onerror="alert(1)"> & <script>alert(2)</script>'


def _server(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]) -> Iterator[ChainlitServer]:
    workdir = tmp_path_factory.mktemp(name)
    empty_docs = workdir / "no-docs"
    empty_docs.mkdir()
    try:
        with run_chainlit(workdir, env={"KNOWLEDGE_DOCS_DIR": str(empty_docs), **env}) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    """This module's server: no help centre (fast start), and shop-widget sign-ins on."""
    yield from _server(tmp_path_factory, "chainlit-workspace", {"AUTH_WIDGET_SECRET": WIDGET_SECRET})


@pytest.fixture(scope="module")
def widget_token(chainlit_server: ChainlitServer) -> str:
    """A customer signed in through the shop's widget (POST /auth/header; not counted by the sign-in limit)."""
    status, headers, body = _widget_sign_in(chainlit_server, _widget_token("widget.shopper@example.com", "c_9"))
    assert status == 200, f"the widget sign-in answered {status}: {body[:300]}\n{chainlit_server.log_tail()}"
    token = cookies_set(headers).get(AUTH_COOKIE)
    assert token, headers
    return token


def _get(server: ChainlitServer, path: str, token: str | None) -> tuple[int, dict[str, str], str]:
    return http_get(f"{server.base_url}{path}", token=token)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # hand the 3xx back as it came


def _head_of_redirect(server: ChainlitServer, path: str, token: str) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(f"{server.base_url}{path}", headers={"Cookie": f"{AUTH_COOKIE}={token}"})
    try:
        with urllib.request.build_opener(_NoRedirects).open(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


def _list(server: ChainlitServer, token: str, **params: str) -> str:
    path = "/workspace/conversations" + ("?" + urllib.parse.urlencode(params) if params else "")
    status, headers, body = _get(server, path, token)
    assert status == 200, f"GET {path} as the lead answered {status}: {body[:300]}\n{server.log_tail()}"
    assert headers.get("content-type", "").startswith("text/html"), headers
    return body


def test_the_lead_sees_customers_conversations_with_transcript_links(
    chainlit_server: ChainlitServer, lead_token: str
) -> None:
    text = "Where is parcel 5521? It was due on Monday"
    thread_id = _create_thread(chainlit_server, CUSTOMER, text, shared=False)
    own = _create_thread(chainlit_server, LEAD, "Lead testing the refund answer 8812", shared=False)

    for path in ("/workspace", "/workspace/"):
        status, headers = _head_of_redirect(chainlit_server, path, lead_token)
        assert status == 303 and headers.get("location") == "/workspace/conversations", (path, status, headers)
    status, _, _ = _get(chainlit_server, "/workspace/no-such-page", lead_token)
    assert status == 404, f"an unknown workspace page answered {status}, not Chainlit's chat page"

    body = _list(chainlit_server, lead_token)
    assert text in body and CUSTOMER in body, body[:3000]
    assert f'href="/share/{thread_id}"' in body, body[:3000]
    assert own not in body and "Lead testing the refund" not in body, "the lead's own chat is listed"
    assert "script-src" not in body and "<script" not in body.lower() and "https://" not in body

    status, _, transcript = _get(chainlit_server, f"/project/share/{thread_id}", lead_token)
    assert status == 200 and text in transcript, f"the transcript the link opens answered {status}"

    # Filters reach the SQL: a search that misses, a customer that matches, a rating nobody gave.
    assert thread_id not in _list(chainlit_server, lead_token, q="no such words anywhere")
    assert thread_id in _list(chainlit_server, lead_token, q="PARCEL 5521", customer="DANA@")
    assert thread_id in _list(chainlit_server, lead_token, rating="unrated")
    assert thread_id not in _list(chainlit_server, lead_token, rating="down")
    assert thread_id not in _list(chainlit_server, lead_token, **{"from": "2999-01-01"})


def test_html_in_messages_names_and_filters_is_escaped(chainlit_server: ChainlitServer, lead_token: str) -> None:
    shopper = "mallory.html@example.com"
    asyncio.run(create_user(_url(chainlit_server), shopper, None, "customer", HOSTILE))
    thread_id = _create_thread(chainlit_server, shopper, HOSTILE, shared=False)

    body = _list(chainlit_server, lead_token, q=HOSTILE, customer="mallory.html")
    assert thread_id in body, body[:3000]
    assert HOSTILE not in body and "<img" not in body and "<script" not in body.lower()
    assert str(escape(HOSTILE)) in body, body[:4000]  # in the title cell, the name and the search box


def test_the_older_link_pages_through_every_conversation_once(
    chainlit_server: ChainlitServer, lead_token: str
) -> None:
    pager = "pager.customer@example.com"
    asyncio.run(create_user(_url(chainlit_server), pager, None, "customer", "Pat Pager"))

    async def write(store: ChatStore) -> list[str]:
        owner = (await store.user_row(pager))["id"]
        ids = [str(uuid.uuid4()) for _ in range(PAGE_SIZE + 5)]
        for thread_id in ids:
            await store.update_thread(thread_id, name="paged question", user_id=owner)
        return ids

    created = set(asyncio.run(_with_store(chainlit_server, write)))
    seen: list[str] = []
    path = "/workspace/conversations?" + urllib.parse.urlencode({"customer": "PAGER.customer"})
    for _ in range(3):
        status, _, body = _get(chainlit_server, path, lead_token)
        assert status == 200, f"GET {path}: {status} {body[:300]}"
        seen += re.findall(r'href="/share/([0-9a-f-]{36})">paged question', body)
        older = re.search(r'<a href="([^"]+)">Older', body)
        if older is None:
            break
        path = "/workspace/conversations" + html.unescape(older.group(1))
    assert len(seen) == len(created) and set(seen) == created, (len(seen), len(set(seen)), len(created))


def test_a_bad_filter_or_cursor_is_a_clear_400_for_staff(chainlit_server: ChainlitServer, lead_token: str) -> None:
    for path in ("/workspace/conversations?from=31-01-2026", "/workspace/conversations?rating=sideways",
                 "/workspace/conversations?cursor=not-a-cursor"):
        status, _, body = _get(chainlit_server, path, lead_token)
        assert status == 400 and 'role="alert"' in body, f"{path}: {status} {body[:500]}"


def test_everyone_but_staff_gets_404(
    chainlit_server: ChainlitServer, dana_token: str, widget_token: str, lead_token: str
) -> None:
    secret = "Dana's private question 7731"
    _create_thread(chainlit_server, CUSTOMER, secret, shared=True)
    forged = lead_token[:-6] + ("AAAAAA" if not lead_token.endswith("AAAAAA") else "BBBBBB")
    callers = (("dana, a customer", dana_token), ("a widget customer", widget_token), ("an anonymous visitor", None),
               ("a forged cookie", "not-a-jwt"), ("a tampered lead cookie", forged))
    for who, token in callers:
        for path in WORKSPACE_URLS:
            status, _, body = _get(chainlit_server, path, token)
            assert status == 404, f"{who} got {status} from {path}: {body[:300]}"
            assert secret not in body and "Conversations" not in body


def test_the_role_is_read_from_the_database_on_every_request(chainlit_server: ChainlitServer) -> None:
    late_lead = "kim.workspace@larkspurgoods.example"
    asyncio.run(create_user(_url(chainlit_server), late_lead, DEMO_PASSWORD, "lead", "Kim"))
    token = login(chainlit_server.base_url, late_lead, DEMO_PASSWORD)
    _list(chainlit_server, token)
    with closing(sqlite3.connect(chainlit_server.database_path)) as db, db:
        db.execute("UPDATE users SET role = 'customer' WHERE identifier = ?", (late_lead,))
    for path in WORKSPACE_URLS[:2]:
        status, _, body = _get(chainlit_server, path, token)
        assert status == 404, f"a demoted lead got {status} from {path}: {body[:300]}"
    with closing(sqlite3.connect(chainlit_server.database_path)) as db, db:
        db.execute("UPDATE users SET role = 'admin' WHERE identifier = ?", (late_lead,))
    _list(chainlit_server, token)  # admins are staff too


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    """A server with sign-in off (AUTH_ENABLED=false): the workspace does not exist there."""
    yield from _server(tmp_path_factory, "chainlit-workspace-open", {"AUTH_ENABLED": "false"})


def test_with_sign_in_off_every_workspace_url_is_404(open_server: ChainlitServer, lead_token: str) -> None:
    # Both servers sign with the same test secret: even a lead's valid cookie from the other one is refused.
    for token in (None, lead_token):
        for path in WORKSPACE_URLS:
            status, _, body = _get(open_server, path, token)
            assert status == 404, f"{path} answered {status} with sign-in off: {body[:300]}"
