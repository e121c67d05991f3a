"""The real `chainlit run app.py` process: the support-lead workspace under /workspace (agent/web/workspace.py).

Staff (a lead or an admin in the users table, read on every request) get the conversation list, each row
linking to the read-only transcript /share/<id>, its CSV download under the same filters, and
/workspace/conversations/<id> (the link tickets carry) redirecting to that transcript; each transcript a staff
member opens is recorded (transcript_views). Everyone else, the demo customer, a shop-widget customer, an
anonymous visitor, a forged cookie, and everyone while sign-in is off, gets the 404 an unknown URL gets.

Threads are written straight into the server's SQLite database through the data layer, like
tests/test_app_server_sharing.py (whose helpers this module reuses), and their facts with SQLAlchemy Core
(tests/workspace_fixtures.py), so no chat is needed and the server skips the help centre.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta

import pytest
from markupsafe import escape

from agent.datalayer.store import ChatStore
from agent.users import create_user
from agent.web.routes import AUDIT_UNAVAILABLE
from agent.web.workspace import CSV_HEADER, PAGE_SIZE
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
from tests.chainlit_server import server_without_docs
from tests.test_app_server_auth import WIDGET_SECRET, _widget_sign_in, _widget_token
from tests.test_app_server_sharing import _create_thread, _url, _with_store
from tests.workspace_fixtures import add_facts, rate_last_step, set_started
from tools.store.sql import utcnow

pytestmark = pytest.mark.server

WORKSPACE_URLS = ("/workspace", "/workspace/conversations", "/workspace/", "/workspace/no-such-page",
                  "/workspace/conversations?rating=down&customer=dana", "/workspace/conversations?cursor=not-a-cursor",
                  "/workspace/conversations?from=garbage", "/workspace/conversations.csv",
                  "/workspace/conversations.csv?customer=dana&escalated=yes",
                  "/workspace/conversations/00000000-0000-0000-0000-000000000000",
                  # the queue's and the analytics' pages (agent/web/queue.py, analytics.py), behind the same guard
                  "/workspace/tickets", "/workspace/tickets?status=all", "/workspace/tickets.csv",
                  "/workspace/tickets/T-00000000", "/workspace/analytics", "/workspace/analytics?from=2026-01-01",
                  "/workspace/static/plotly.min.js")
HOSTILE = '<img src=x onerror="alert(1)"> & <script>alert(2)</script>'


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    """This module's server: no help centre (fast start), and shop-widget sign-ins on."""
    yield from server_without_docs(tmp_path_factory, "chainlit-workspace", {"AUTH_WIDGET_SECRET": WIDGET_SECRET})


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
    thread_id = _create_thread(chainlit_server, CUSTOMER, secret, shared=True)
    # Dana's own transcript and files are hers: the others may not reach them either.
    hers = (f"/project/share/{thread_id}", f"/share/{thread_id}", f"/files/threads/{thread_id}/{uuid.uuid4()}")
    forged = lead_token[:-6] + ("AAAAAA" if not lead_token.endswith("AAAAAA") else "BBBBBB")
    callers = (("dana, a customer", dana_token, ()), ("a widget customer", widget_token, hers),
               ("an anonymous visitor", None, hers[::2]),  # the page itself asks a visitor to sign in
               ("a forged cookie", "not-a-jwt", hers[::2]), ("a tampered lead cookie", forged, hers[::2]))
    for who, token, transcript in callers:
        for path in (*WORKSPACE_URLS, *transcript):
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
    for path in ("/workspace/tickets", "/workspace/analytics"):
        status, _, body = _get(chainlit_server, path, token)
        assert status == 200, f"an admin got {status} from {path}: {body[:300]}"
    thread_id = _create_thread(chainlit_server, CUSTOMER, "Admins read transcripts too 5521", shared=False)
    status, _, body = _get(chainlit_server, f"/project/share/{thread_id}", token)
    assert status == 200 and "5521" in body, f"an admin could not open a transcript: {status} {body[:300]}"


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    """A server with sign-in off (AUTH_ENABLED=false): the workspace does not exist there."""
    yield from server_without_docs(tmp_path_factory, "chainlit-workspace-open", {"AUTH_ENABLED": "false"})


def test_with_sign_in_off_every_workspace_url_is_404(open_server: ChainlitServer, lead_token: str) -> None:
    # Both servers sign with the same test secret: even a lead's valid cookie from the other one is refused.
    asyncio.run(create_user(_url(open_server), CUSTOMER, DEMO_PASSWORD, "customer", "Dana"))  # no demo users here
    thread_id = _create_thread(open_server, CUSTOMER, "Nobody reads this with sign-in off 3390", shared=True)
    transcript = (f"/project/share/{thread_id}", f"/files/threads/{thread_id}/00000000-0000-0000-0000-000000000000")
    for token in (None, lead_token):
        for path in (*WORKSPACE_URLS, *transcript):
            status, _, body = _get(open_server, path, token)
            assert status == 404, f"{path} answered {status} with sign-in off: {body[:300]}"
            assert "3390" not in body


def _facts(server: ChainlitServer, thread_id: str, **values) -> None:
    asyncio.run(_with_store(server, lambda store: add_facts(store.engine, thread_id, **values)))


def _ids(body: str) -> set[str]:
    return set(re.findall(r'href="/share/([0-9a-f-]{36})"', body))


def test_the_facts_filters_columns_and_choices(chainlit_server: ChainlitServer, lead_token: str) -> None:
    shopper = "facts.customer@example.com"
    asyncio.run(create_user(_url(chainlit_server), shopper, None, "customer", "Fay Facts"))
    handed = _create_thread(chainlit_server, shopper, "Facts: please refund order 6101", shared=False)
    plain = _create_thread(chainlit_server, shopper, "Facts: opening hours 6102", shared=False)
    _facts(chainlit_server, handed, outcome="escalated", ticket_id="T-6101", ticket_status="open",
           knowledge_misses=1, tools=["issue_refund_6101"], intents=["refund_6101"])
    both = {handed, plain}

    body = _list(chainlit_server, lead_token, customer=shopper)
    assert _ids(body) == both, body[:3000]
    assert '<span class="badge escalated">escalated</span>' in body and "T-6101" in body, body[:6000]
    assert '<option value="issue_refund_6101">' in body and '<option value="refund_6101">' in body
    for params, expected in (
        ({"escalated": "yes"}, {handed}), ({"escalated": "no"}, {plain}), ({"ticket": "open"}, {handed}),
        ({"ticket": "solved"}, set()), ({"tool": "issue_refund_6101"}, {handed}), ({"intent": "refund_6101"}, {handed}),
        ({"intent": "issue_refund_6101"}, set()), ({"did_not_know": "yes"}, {handed}),
        ({"did_not_know": "no"}, {plain}),
    ):
        body = _list(chainlit_server, lead_token, customer=shopper, **params)
        assert _ids(body) == expected, (params, _ids(body))
        key, value = next(iter(params.items()))
        assert f'<option value="{value}" selected>' in body, (params, "the form does not show the filter")
        csv_link = re.search(r'href="(/workspace/conversations\.csv[^"]*)"', body)
        assert csv_link and f"{key}={value}" in html.unescape(csv_link.group(1)), (params, csv_link)
    for bad in ({"escalated": "maybe"}, {"ticket": "closed"}, {"did_not_know": "1"}):
        path = "/workspace/conversations?" + urllib.parse.urlencode(bad)
        status, _, body = _get(chainlit_server, path, lead_token)
        assert status == 400 and 'role="alert"' in body, (bad, status, body[:500])


def _csv(server: ChainlitServer, token: str, **params: str) -> list[list[str]]:
    path = "/workspace/conversations.csv?" + urllib.parse.urlencode(params)
    status, headers, body = _get(server, path, token)
    assert status == 200, f"GET {path} answered {status}: {body[:300]}\n{server.log_tail()}"
    assert headers.get("content-type", "").startswith("text/csv"), headers
    assert headers.get("content-disposition", "").startswith("attachment; filename=\"conversations-"), headers
    assert body.startswith("\ufeff"), body[:20]
    return list(csv.reader(io.StringIO(body[1:])))


def test_the_csv_has_every_matching_row_with_formulas_defused(
    chainlit_server: ChainlitServer, lead_token: str
) -> None:
    shopper = "csv.export@example.com"
    asyncio.run(create_user(_url(chainlit_server), shopper, None, "customer", "@SUM(1+1) Mallory"))
    formula = "=cmd|' /C calc'!A0"
    older = _create_thread(chainlit_server, shopper, formula, shared=False)
    newer = _create_thread(chainlit_server, shopper, "CSV: where is parcel 7002?", shared=False)
    _facts(chainlit_server, newer, outcome="escalated", ticket_id="T-7002", ticket_status="pending",
           tools=["lookup_order_7002"])
    asyncio.run(_with_store(chainlit_server, lambda store: rate_last_step(store, older, 0)))
    # Both start within a second or so: an hour apart, their order is certain.
    an_hour_ago = utcnow() - timedelta(hours=1)
    asyncio.run(_with_store(chainlit_server, lambda store: set_started(store.engine, older, an_hour_ago)))

    header, *rows = _csv(chainlit_server, lead_token, customer=shopper)
    assert tuple(header) == CSV_HEADER
    assert [row[0] for row in rows] == [newer, older], rows  # newest first
    by_id = {row[0]: dict(zip(CSV_HEADER, row, strict=True)) for row in rows}
    first, second = by_id[newer], by_id[older]
    assert second["title"] == "'" + formula and second["customer name"] == "'@SUM(1+1) Mallory", second
    assert (second["last rating"], second["outcome"], second["escalated"], second["ticket id"]) == (
        "down", "", "no", "")
    assert (first["outcome"], first["escalated"], first["ticket id"], first["ticket status"], first["last rating"]) == (
        "escalated", "yes", "T-7002", "pending", "")
    assert (first["customer"], first["turns"]) == (shopper, "1")
    assert first["started (UTC)"].endswith("Z") and first["started (UTC)"] > second["started (UTC)"]
    assert first["transcript URL"] == f"{chainlit_server.base_url}/workspace/conversations/{newer}"

    # The same filters as the list: escalated only, a tool, a rating; and none matching.
    assert [row[0] for row in _csv(chainlit_server, lead_token, customer=shopper, escalated="yes")[1:]] == [newer]
    assert [row[0] for row in _csv(chainlit_server, lead_token, tool="lookup_order_7002")[1:]] == [newer]
    assert [row[0] for row in _csv(chainlit_server, lead_token, customer=shopper, rating="down")[1:]] == [older]
    assert _csv(chainlit_server, lead_token, customer=shopper, q="no such words") == [list(CSV_HEADER)]
    status, _, body = _get(chainlit_server, "/workspace/conversations.csv?ticket=closed", lead_token)
    assert status == 400 and "Ticket" in body, (status, body[:300])


def test_the_csv_walks_past_the_page_size(chainlit_server: ChainlitServer, lead_token: str) -> None:
    shopper = "csv.many@example.com"
    asyncio.run(create_user(_url(chainlit_server), shopper, None, "customer", "Many"))

    async def write(store: ChatStore) -> list[str]:
        owner = (await store.user_row(shopper))["id"]
        ids = [str(uuid.uuid4()) for _ in range(PAGE_SIZE * 2 + 3)]
        for thread_id in ids:
            await store.update_thread(thread_id, name="many", user_id=owner)
        return ids

    created = asyncio.run(_with_store(chainlit_server, write))
    rows = _csv(chainlit_server, lead_token, customer=shopper)[1:]
    assert sorted(row[0] for row in rows) == sorted(created)


def _views(server: ChainlitServer, thread_id: str) -> list:
    return asyncio.run(_with_store(server, lambda store: store.transcript_views(thread_id)))


def test_ticket_links_redirect_staff_to_the_transcript(chainlit_server: ChainlitServer, lead_token: str) -> None:
    thread_id = _create_thread(chainlit_server, CUSTOMER, "Ticket link target 8120", shared=False)
    status, headers = _head_of_redirect(chainlit_server, f"/workspace/conversations/{thread_id}", lead_token)
    assert status == 303 and headers.get("location") == f"/share/{thread_id}", (status, headers)
    assert _views(chainlit_server, thread_id) == []  # the redirect records nothing: the transcript view does


def test_each_transcript_staff_open_is_recorded_and_unrecordable_views_are_refused(
    chainlit_server: ChainlitServer, lead_token: str, dana_token: str
) -> None:
    text = "Audited: my parcel 9034 never came"
    thread_id = _create_thread(chainlit_server, CUSTOMER, text, shared=True)  # shared: its author may open it too
    before = utcnow() - timedelta(seconds=1)

    status, _, body = _get(chainlit_server, f"/project/share/{thread_id}", lead_token)
    assert status == 200 and text in body, (status, body[:300])
    views = _views(chainlit_server, thread_id)
    assert [(v.thread_id, v.viewer) for v in views] == [(thread_id, LEAD)], views
    assert before <= views[0].viewed_at <= utcnow() + timedelta(seconds=1), (before, views[0].viewed_at)

    # The author reading her own conversation is not staff access: nothing recorded. Nor is a refusal.
    status, _, body = _get(chainlit_server, f"/project/share/{thread_id}", dana_token)
    assert status == 200 and text in body, (status, body[:300])
    status, _, _ = _get(chainlit_server, f"/project/share/{thread_id}", None)
    assert status == 404
    missing = str(uuid.uuid4())
    status, _, _ = _get(chainlit_server, f"/project/share/{missing}", lead_token)
    assert status == 404 and _views(chainlit_server, missing) == []
    assert len(_views(chainlit_server, thread_id)) == 1

    # When the record cannot be written, staff do not get the transcript.
    with closing(sqlite3.connect(chainlit_server.database_path)) as db, db:
        db.execute("ALTER TABLE transcript_views RENAME TO transcript_views_away")
    try:
        status, _, body = _get(chainlit_server, f"/project/share/{thread_id}", lead_token)
        assert status == 503 and text not in body and AUDIT_UNAVAILABLE in body, (status, body[:300])
        status, _, body = _get(chainlit_server, f"/project/share/{thread_id}", dana_token)
        assert status == 200 and text in body, "the author's own view does not depend on the audit log"
    finally:
        with closing(sqlite3.connect(chainlit_server.database_path)) as db, db:
            db.execute("ALTER TABLE transcript_views_away RENAME TO transcript_views")
    status, _, body = _get(chainlit_server, f"/project/share/{thread_id}", lead_token)
    assert status == 200 and len(_views(chainlit_server, thread_id)) == 2
