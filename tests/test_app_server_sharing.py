"""The real `chainlit run app.py` process: thread sharing means what .chainlit/config.toml says.

`allow_thread_sharing = false` only hides Chainlit's share button; its routes stay: PUT /project/thread/share
sets `is_shared` in the thread's metadata, and GET /project/share/<id> then shows the whole transcript to
anyone who knows the id. Ours stand in front of them (agent/web/routes.py): sharing is refused while the
setting is off, and the read-only view is only for the thread's author and for staff (a lead or an admin in
the users table, read on each request), who may open any transcript through `on_shared_thread_view` in app.py.

Threads are written straight into the server's SQLite database through the data layer (no chat needed), so
the server skips the help centre and starts fast.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing

import pytest

from agent.datalayer.storage import LocalStorage
from agent.datalayer.store import ChatStore
from agent.users import create_user
from tests.app_server_fixtures import (  # noqa: F401  (the sign-ins are fixtures; chainlit_server is ours below)
    CUSTOMER,
    DEMO_PASSWORD,
    ChainlitServer,
    dana_sign_in,
    dana_token,
    http_get,
    lead_token,
    login,
)
from tests.chainlit_server import http_post_json, server_without_docs

pytestmark = pytest.mark.server

OTHER_CUSTOMER = "erin@example.com"
LATE_LEAD = "kim@larkspurgoods.example"  # a lead who is demoted while signed in


@pytest.fixture(scope="module")
def chainlit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    """This module's server, without the help centre (an empty docs folder: fast start)."""
    yield from server_without_docs(tmp_path_factory, "chainlit-sharing")


def _url(server: ChainlitServer) -> str:
    return f"sqlite+aiosqlite:///{server.database_path}"


async def _with_store(server: ChainlitServer, fn):
    store = ChatStore(_url(server), LocalStorage(server.database_path.parent / "files"))
    try:
        return await fn(store)
    finally:
        await store.close()


def _create_thread(server: ChainlitServer, owner: str, text: str, *, shared: bool) -> str:
    """A thread of `owner`'s with one message; `shared` marks it as an old share would have."""
    thread_id = str(uuid.uuid4())

    async def write(store: ChatStore) -> None:
        user = await store.user_row(owner)
        assert user, f"no account {owner}"
        metadata = {"is_shared": True, "shared_at": "2026-01-05T10:00:00.000Z"} if shared else {}
        await store.update_thread(thread_id, name=text, user_id=user["id"], metadata=metadata)
        await store.upsert_step({"id": str(uuid.uuid4()), "threadId": thread_id, "type": "user_message",
                                 "name": owner, "output": text, "createdAt": "2026-01-05T09:59:00.000Z"})

    asyncio.run(_with_store(server, write))
    return thread_id


def _metadata(server: ChainlitServer, thread_id: str) -> dict:
    async def read(store: ChatStore) -> dict:
        thread = await store.get_thread(thread_id)
        assert thread, f"thread {thread_id} is gone"
        return thread.get("metadata") or {}

    return asyncio.run(_with_store(server, read))


def _sign_in_new(server: ChainlitServer, identifier: str, role: str) -> str:
    asyncio.run(create_user(_url(server), identifier, DEMO_PASSWORD, role, identifier.split("@")[0].title()))
    return login(server.base_url, identifier, DEMO_PASSWORD)


@pytest.fixture(scope="module")
def erin_token(chainlit_server: ChainlitServer) -> str:
    """Another customer's sign-in."""
    return _sign_in_new(chainlit_server, OTHER_CUSTOMER, "customer")


def _share(server: ChainlitServer, thread_id: str, token: str | None, shared: bool = True) -> tuple[int, str]:
    status, _, body = http_post_json(f"{server.base_url}/project/thread/share",
                                     {"threadId": thread_id, "isShared": shared}, token=token, method="PUT")
    return status, body


def _view(server: ChainlitServer, thread_id: str, token: str | None) -> tuple[int, str]:
    status, _, body = http_get(f"{server.base_url}/project/share/{thread_id}", token=token)
    return status, body


def test_sharing_is_refused_while_the_settings_turn_it_off(chainlit_server: ChainlitServer, dana_token: str) -> None:
    text = "Private: my order 1042 and my home address"
    thread_id = _create_thread(chainlit_server, CUSTOMER, text, shared=False)
    # The thread is there and hers: a refusal below is the setting, not a missing or foreign thread.
    status, _, body = http_get(f"{chainlit_server.base_url}/project/thread/{thread_id}", token=dana_token)
    assert status == 200 and text in body, f"dana could not open her own thread: {status} {body[:300]}"

    status, body = _share(chainlit_server, thread_id, dana_token)
    assert status == 404, f"sharing is off in .chainlit/config.toml, yet PUT share answered {status}: {body[:300]}"
    assert "is_shared" not in _metadata(chainlit_server, thread_id), _metadata(chainlit_server, thread_id)
    status, body = _share(chainlit_server, thread_id, None)
    assert status == 404, f"an anonymous PUT share answered {status}: {body[:300]}"
    assert "is_shared" not in _metadata(chainlit_server, thread_id)


def test_a_shared_thread_is_only_for_its_author_and_staff(
    chainlit_server: ChainlitServer, dana_token: str, erin_token: str, lead_token: str
) -> None:
    text = "Shared long ago: my card ends in 4242"
    thread_id = _create_thread(chainlit_server, CUSTOMER, text, shared=True)  # an old share, still marked

    for who, token in (("another customer", erin_token), ("an anonymous visitor", None)):
        status, body = _view(chainlit_server, thread_id, token)
        assert status == 404, f"{who} opened dana's shared thread: {status} {body[:300]}"
        assert text not in body
    status, body = _view(chainlit_server, thread_id, "not-a-jwt")
    assert status == 404 and text not in body, f"a forged cookie answered {status}: {body[:300]}"

    for who, token in (("dana, its author", dana_token), ("the lead", lead_token)):
        status, body = _view(chainlit_server, thread_id, token)
        assert status == 200, f"{who} could not open the shared thread: {status} {body[:300]}\n" \
                              f"{chainlit_server.log_tail()}"
        thread = json.loads(body)
        assert thread["id"] == thread_id and text in [s["output"] for s in thread["steps"]], thread


def test_staff_read_any_transcript_by_their_role_in_the_database(
    chainlit_server: ChainlitServer, erin_token: str, lead_token: str
) -> None:
    text = "Never shared: where is my parcel?"
    thread_id = _create_thread(chainlit_server, CUSTOMER, text, shared=False)

    status, body = _view(chainlit_server, thread_id, lead_token)
    assert status == 200 and text in body, f"the lead could not open a transcript: {status} {body[:300]}\n" \
                                           f"{chainlit_server.log_tail()}"
    status, body = _view(chainlit_server, thread_id, erin_token)
    assert status == 404 and text not in body, f"another customer opened it: {status} {body[:300]}"

    # The role is read from the users table on each request, not from the sign-in: a demoted lead loses access
    # with the session they already hold.
    late_token = _sign_in_new(chainlit_server, LATE_LEAD, "lead")
    status, body = _view(chainlit_server, thread_id, late_token)
    assert status == 200, f"a new lead could not open a transcript: {status} {body[:300]}"
    with closing(sqlite3.connect(chainlit_server.database_path)) as db, db:
        db.execute("UPDATE users SET role = 'customer' WHERE identifier = ?", (LATE_LEAD,))
    status, body = _view(chainlit_server, thread_id, late_token)
    assert status == 404 and text not in body, f"a demoted lead still opened it: {status} {body[:300]}"


def test_the_transcript_page_itself_is_404_to_other_signed_in_customers(
    chainlit_server: ChainlitServer, dana_token: str, erin_token: str, lead_token: str
) -> None:
    thread_id = _create_thread(chainlit_server, CUSTOMER, "My parcel to 12 Larkspur Lane", shared=True)
    page = f"{chainlit_server.base_url}/share/{thread_id}"

    status, _headers, body = http_get(page, token=erin_token)
    assert status == 404 and "<html" not in body.lower(), f"another customer got the page: {status} {body[:200]}"
    for who, token in (("dana, its author", dana_token), ("the lead", lead_token), ("a visitor, to sign in", None)):
        status, _headers, body = http_get(page, token=token)
        assert status == 200 and "<html" in body.lower(), f"{who} did not get the page: {status} {body[:200]}"
