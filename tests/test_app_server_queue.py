"""The real `chainlit run app.py` process: the escalation queue under /workspace/tickets (agent/web/queue.py).

A lead lists the open and pending tickets, opens one, takes it, writes a note and solves it with form posts that
carry the page's token; every change lands in the ticket's history with the lead's identifier and a time. A post
without the token is a 403; customers, anonymous visitors and forged cookies get a 404 everywhere. The CSV download
streams the filtered tickets with spreadsheet formulas defused.

Tickets are written straight into the server's store (the same SQLite file as the chat history) and one server
serves the whole module.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta

import pytest
from markupsafe import escape

from agent.users import create_user
from tests.app_server_fixtures import (  # noqa: F401  (the sign-ins are fixtures; chainlit_server is ours below)
    AUTH_COOKIE,
    CUSTOMER,
    DEMO_PASSWORD,
    LEAD,
    ChainlitServer,
    dana_sign_in,
    dana_token,
    http_get,
    lead_token,
    login,
)
from tests.test_app_server_sharing import _create_thread, _url
from tests.chainlit_server import server_without_docs
from tests.test_app_server_workspace import _NoRedirects
from tools.store.db import StoreDatabase
from tools.store.models import Ticket, TicketEvent
from tools.store.seed import DANA_ID
from tools.store.tickets import TicketQueue

pytestmark = pytest.mark.server

HOSTILE = '<img src=x onerror="alert(1)"> & <script>alert(2)</script>'
LONG_AGO = datetime(2020, 1, 6, 9, 0)  # older than anything the server makes: first in the queue


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    """This module's server: no help centre (fast start)."""
    yield from server_without_docs(tmp_path_factory, "chainlit-queue")


async def _in_store(server: ChainlitServer, fn):
    db = StoreDatabase(_url(server))
    try:
        return await fn(db)
    finally:
        await db.dispose()


def _ticket(server: ChainlitServer, ticket_id: str, *, summary: str = "Parcel 5521 never arrived.",
            customer: str | None = DANA_ID, minutes: int = 0, status: str = "open",
            conversation: str | None = None) -> str:  # fmt: skip
    """A hand-over ticket for a new conversation of Dana's, as the tool writes it; returns the conversation id."""
    thread_id = conversation or _create_thread(server, CUSTOMER, f"question behind {ticket_id}", shared=False)
    made = LONG_AGO + timedelta(minutes=minutes)

    async def write(db: StoreDatabase) -> None:
        async with db.session() as session:
            session.add(Ticket(id=ticket_id, conversation_id=thread_id, status=status, reason="customer request",
                               summary=summary, transcript_url="", created_at=made, updated_at=made,
                               customer_id=customer))  # fmt: skip
            await session.flush()
            session.add(TicketEvent(ticket_id=ticket_id, at=made, actor="assistant", kind="created", to_value="open"))

    asyncio.run(_in_store(server, write))
    return thread_id


def _history(server: ChainlitServer, ticket_id: str) -> list[tuple[str, str, str | None, str | None, str | None]]:
    async def read(db: StoreDatabase):
        return (await TicketQueue(db).get(ticket_id)).events

    return [(e.actor, e.kind, e.from_value, e.to_value, e.note) for e in asyncio.run(_in_store(server, read))]


def _get(server: ChainlitServer, path: str, token: str | None) -> tuple[int, dict[str, str], str]:
    return http_get(f"{server.base_url}{path}", token=token)


def _page(server: ChainlitServer, path: str, token: str) -> str:
    status, headers, body = _get(server, path, token)
    assert status == 200, f"GET {path} as the lead answered {status}: {body[:300]}\n{server.log_tail()}"
    assert headers.get("content-type", "").startswith("text/html"), headers
    assert "<script" not in body.lower() and "https://" not in body
    return body


def _post(server: ChainlitServer, path: str, token: str | None, fields: dict[str, str]) -> tuple[int, dict, str]:
    """A form post as the browser sends it, redirects not followed."""
    request = urllib.request.Request(
        f"{server.base_url}{path}", data=urllib.parse.urlencode(fields).encode(), method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 **({"Cookie": f"{AUTH_COOKIE}={token}"} if token else {})},
    )  # fmt: skip
    try:
        with urllib.request.build_opener(_NoRedirects).open(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()


def _csrf(body: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', body)
    assert found, body[:3000]
    return found.group(1)


def test_a_lead_takes_notes_and_solves_a_ticket(chainlit_server: ChainlitServer, lead_token: str) -> None:
    server = chainlit_server
    thread_id = _ticket(server, "T-WORK0001")
    with closing(sqlite3.connect(server.database_path)) as db, db:  # the facts the chat service kept
        db.execute(
            "INSERT INTO conversation_facts (thread_id, started_at, turns, errors, knowledge_misses, cards_shown, "
            "cards_confirmed, cards_declined, cards_expired, ticket_id, ticket_status, outcome, updated_at) "
            "VALUES (?, '2020-01-06 09:00:00', 1, 0, 0, 0, 0, 0, 0, 'T-WORK0001', 'open', 'escalated', "
            "'2020-01-06 09:00:00')", (thread_id,))  # fmt: skip
    queue = _page(server, "/workspace/tickets", lead_token)
    assert 'href="/workspace/tickets/T-WORK0001"' in queue and f'href="/share/{thread_id}"' in queue, queue[:4000]
    assert "Dana Whitfield" in queue and "Parcel 5521 never arrived." in queue and "Unassigned" in queue
    assert queue.index("T-WORK0001") < queue.index("</tbody>")

    page = _page(server, "/workspace/tickets/T-WORK0001", lead_token)
    assert "Assign to me" in page and "Mark solved" in page and "Reopen" not in page
    token, back = _csrf(page), "/workspace/tickets/T-WORK0001"
    for path, fields in (("/assign", {"to": "me"}), ("/notes", {"note": f"Courier says: {HOSTILE}"}),
                         ("/status", {"status": "pending"}), ("/status", {"status": "solved"})):  # fmt: skip
        status, headers, body = _post(server, back + path, lead_token, {"csrf": token, **fields})
        assert status == 303 and headers.get("location") == back, (path, status, body[:300], server.log_tail())

    page = _page(server, back, lead_token)
    assert "You</strong> took it" in page and "moved it from pending to solved" in page
    assert HOSTILE not in page and str(escape(HOSTILE)) in page, page[-4000:]
    assert "Reopen" in page and "Mark pending" not in page  # a solved ticket may only be reopened
    assert [(actor, kind, old, new) for actor, kind, old, new, _ in _history(server, "T-WORK0001")] == [
        ("assistant", "created", None, "open"), (LEAD, "assigned", None, LEAD), (LEAD, "note", None, None),
        (LEAD, "status", "open", "pending"), (LEAD, "status", "pending", "solved")]
    assert "could not copy ticket" not in server.log_text(), server.log_tail()
    with closing(sqlite3.connect(server.database_path)) as db:
        facts = db.execute("SELECT ticket_id, ticket_status FROM conversation_facts WHERE thread_id = ?",
                           (thread_id,)).fetchall()  # fmt: skip
    assert facts == [("T-WORK0001", "solved")], "the conversation list shows the ticket's status"

    status, _, body = _post(server, back + "/status", lead_token, {"csrf": token, "status": "pending"})
    assert status == 409 and 'role="alert"' in body and "can move to open, not to pending" in body, body[:2000]
    assert "T-WORK0001" not in _page(server, "/workspace/tickets", lead_token), "a solved ticket left the queue"
    assert "T-WORK0001" in _page(server, "/workspace/tickets?status=solved&assigned=me", lead_token)
    assert "T-WORK0001" not in _page(server, "/workspace/tickets?status=solved&assigned=unassigned", lead_token)


def test_a_post_without_the_pages_token_is_refused(chainlit_server: ChainlitServer, lead_token: str) -> None:
    server = chainlit_server
    _ticket(server, "T-CSRF0001", minutes=1)
    kim = "kim.queue@larkspurgoods.example"
    asyncio.run(create_user(_url(server), kim, DEMO_PASSWORD, "lead", "Kim"))
    kims = _csrf(_page(server, "/workspace/tickets/T-CSRF0001", login(server.base_url, kim, DEMO_PASSWORD)))
    assert kims != _csrf(_page(server, "/workspace/tickets/T-CSRF0001", lead_token)), "one token per lead"
    for fields in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": "not-a-token"}, {"csrf": kims}):
        for path, extra in (("/assign", {"to": "me"}), ("/status", {"status": "solved"}), ("/notes", {"note": "x"})):
            status, headers, body = _post(server, f"/workspace/tickets/T-CSRF0001{path}", lead_token,
                                          fields | extra)  # fmt: skip
            assert status == 403 and "reload the page" in body, (path, fields, status, body[:300])
            assert headers.get("content-type", "").startswith("text/plain")
    assert _history(server, "T-CSRF0001") == [("assistant", "created", None, "open", None)]


def test_everyone_but_staff_gets_404(chainlit_server: ChainlitServer, dana_token: str, lead_token: str) -> None:
    server = chainlit_server
    _ticket(server, "T-HIDE0001", summary="Dana's private hand-over 7731", minutes=2)
    token = _csrf(_page(server, "/workspace/tickets/T-HIDE0001", lead_token))
    forged = lead_token[:-6] + ("AAAAAA" if not lead_token.endswith("AAAAAA") else "BBBBBB")
    for who, caller in (("dana, a customer", dana_token), ("an anonymous visitor", None),
                        ("a forged cookie", "not-a-jwt"), ("a tampered lead cookie", forged)):  # fmt: skip
        for path in ("/workspace/tickets", "/workspace/tickets/T-HIDE0001", "/workspace/tickets.csv",
                     "/workspace/tickets?status=all"):  # fmt: skip
            status, _, body = _get(server, path, caller)
            assert status == 404 and "7731" not in body, f"{who} got {status} from {path}: {body[:300]}"
        status, _, body = _post(server, "/workspace/tickets/T-HIDE0001/assign", caller, {"csrf": token, "to": "me"})
        assert status == 404, f"{who} got {status} from the assign form: {body[:300]}"
    assert _history(server, "T-HIDE0001") == [("assistant", "created", None, "open", None)]
    status, _, _ = _get(server, "/workspace/tickets/T-NOSUCH00", lead_token)
    assert status == 404


def test_the_csv_streams_the_filtered_tickets_with_formulas_defused(
    chainlit_server: ChainlitServer, lead_token: str
) -> None:
    server = chainlit_server
    formula = '=HYPERLINK("http://evil.example","click")'
    _ticket(server, "T-CSV00001", summary=formula, minutes=3)
    _ticket(server, "T-CSV00002", summary="+1 555 0100 called", customer=None, minutes=4, status="pending")
    status, headers, body = _get(server, "/workspace/tickets.csv?status=all", lead_token)
    assert status == 200 and headers["content-type"].startswith("text/csv"), (status, headers, body[:300])
    assert headers["content-disposition"].startswith('attachment; filename="tickets-')
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:3] == ["ticket id", "status", "created (UTC)"]
    by_id = {row[0]: row for row in rows[1:]}
    assert by_id["T-CSV00001"][-1] == "'" + formula and by_id["T-CSV00002"][-1] == "'+1 555 0100 called"
    assert by_id["T-CSV00001"][5:8] == [DANA_ID, "Dana Whitfield", CUSTOMER] and by_id["T-CSV00002"][5] == ""
    status, _, body = _get(server, "/workspace/tickets.csv?status=pending", lead_token)
    assert "T-CSV00002" in body and "T-CSV00001" not in body
    status, _, body = _get(server, "/workspace/tickets.csv?status=closed", lead_token)
    assert status == 400 and "Status" in body


def test_a_bad_filter_or_cursor_is_a_clear_400_for_staff(chainlit_server: ChainlitServer, lead_token: str) -> None:
    for path in ("/workspace/tickets?status=closed", "/workspace/tickets?assigned=everyone",
                 "/workspace/tickets?cursor=not-a-cursor"):  # fmt: skip
        status, _, body = _get(chainlit_server, path, lead_token)
        assert status == 400 and 'role="alert"' in body, f"{path}: {status} {body[:500]}"
