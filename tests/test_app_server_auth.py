"""The real `chainlit run app.py` process: sign-in, the persisted history (Chainlit's /project/thread*
routes), who may read or rate a conversation and its files, and the per-IP sign-in limit.

The app requires sign-in: POST /login (a form) sets the httpOnly `access_token` cookie, which every
/project/* route and the websocket handshake read. The page and the chat over the websocket are in
tests/test_app_server.py; the shared fixtures and the socket.io `ChatClient` in tests/app_server_fixtures.py.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from tests.app_server_fixtures import (  # noqa: F401  (chainlit_server and the sign-ins are fixtures)
    AUTH_COOKIE,
    CUSTOMER,
    DEMO_PASSWORD,
    LEAD,
    RETURNS_QUESTION,
    ChainlitServer,
    ChatClient,
    chainlit_server,
    cookies_set,
    dana_sign_in,
    dana_token,
    http_get,
    lead_token,
    post_login,
)
from tests.chainlit_server import http_post_json, post_empty, run_chainlit

pytestmark = pytest.mark.server

WIDGET_SECRET = "shop-widget-secret-" + "w" * 40
PERSIST_TIMEOUT_S = 30.0  # Chainlit writes steps in background tasks, after the frames are sent


def test_project_routes_need_sign_in(chainlit_server: ChainlitServer) -> None:
    status, _, body = http_get(f"{chainlit_server.base_url}/project/settings?language=en-US")
    assert status == 401, f"GET /project/settings without a cookie answered {status}: {body[:300]}"
    status, _, body = http_post_json(
        f"{chainlit_server.base_url}/project/threads", {"pagination": {"first": 20}, "filter": {}}
    )
    assert status == 401, f"POST /project/threads without a cookie answered {status}: {body[:300]}"


def test_login_sets_an_httponly_cookie(
    chainlit_server: ChainlitServer, dana_sign_in: dict[str, str], dana_token: str
) -> None:
    assert dana_token.count(".") == 2, f"not a JWT: {dana_token!r}"
    cookie_line = next(line for line in dana_sign_in["set-cookie"].splitlines() if line.startswith(f"{AUTH_COOKIE}="))
    assert "httponly" in cookie_line.lower(), f"the session cookie is readable by scripts: {cookie_line}"
    # The cookie alone signs the customer in:
    status, _, body = http_get(f"{chainlit_server.base_url}/user", token=dana_token)
    assert status == 200, f"GET /user answered {status}: {body[:300]}\n{chainlit_server.log_tail()}"
    user = json.loads(body)
    assert user["identifier"] == CUSTOMER, user
    assert user["metadata"]["role"] == "customer", user


def test_wrong_password_is_refused(chainlit_server: ChainlitServer) -> None:
    status, headers, body = post_login(chainlit_server.base_url, CUSTOMER, DEMO_PASSWORD + "-wrong")
    assert status == 401, f"a wrong password answered {status}: {body[:300]}\n{chainlit_server.log_tail()}"
    set_now = {name: value for name, value in cookies_set(headers).items() if name.startswith(AUTH_COOKIE) and value}
    assert not set_now, f"a refused sign-in set a session cookie: {headers.get('set-cookie')}"


# --- the persisted history: listing, ownership and steps (Chainlit's /project/thread* routes)


def _in_thread(fn, *args):
    """Run a coroutine function on its own loop in a worker thread (module fixtures are synchronous)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, fn(*args)).result()


def _poll(check, what: str, server: ChainlitServer, timeout: float = PERSIST_TIMEOUT_S):
    """Call check() -> (result, detail) until result is truthy; after `timeout` s fail with the last detail."""
    deadline = time.monotonic() + timeout
    while True:
        result, detail = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:.0f} s; last: {detail}\n{server.log_tail()}")
        time.sleep(0.5)


def _threads(server: ChainlitServer, token: str) -> tuple[int, Any]:
    status, _, body = http_post_json(
        f"{server.base_url}/project/threads",
        {"pagination": {"first": 20, "cursor": None}, "filter": {}},
        token=token,
    )
    return status, (json.loads(body) if status == 200 else body)


@dataclass
class SavedConversation:
    thread_id: str
    question: str
    reply: str


@pytest.fixture(scope="module")
def dana_conversation(chainlit_server: ChainlitServer, dana_token: str) -> SavedConversation:
    """One finished chat turn by the demo customer, over the websocket like the page."""

    async def chat() -> SavedConversation:
        client = ChatClient(chainlit_server, dana_token)
        try:
            await client.connect()
            turn = await client.ask(RETURNS_QUESTION)
            reply = turn.reply
            thread_id = reply.get("threadId")
            assert thread_id, f"the reply names no thread: {reply}\n{turn.summary()}"
            return SavedConversation(thread_id, RETURNS_QUESTION, reply["output"])
        finally:
            await client.close()

    conversation = _in_thread(chat)
    assert "30 days" in conversation.reply, f"reply: {conversation.reply!r}\n{chainlit_server.log_tail()}"
    return conversation


def test_thread_list_shows_the_conversation(
    chainlit_server: ChainlitServer, dana_token: str, dana_conversation: SavedConversation
) -> None:
    def listed():
        status, page = _threads(chainlit_server, dana_token)
        if status != 200:
            return None, f"POST /project/threads answered {status}: {str(page)[:300]}"
        match = [t for t in page["data"] if t["id"] == dana_conversation.thread_id]
        return (match[0] if match else None), page

    thread = _poll(listed, "dana's thread was not listed", chainlit_server)
    # Chainlit names a thread after its first message.
    assert thread["name"] == dana_conversation.question, thread
    assert thread["userIdentifier"] == CUSTOMER, thread
    assert "Support" in (thread.get("tags") or []), thread  # auto_tag_thread: the chat profile


def test_thread_steps_are_persisted(
    chainlit_server: ChainlitServer, dana_token: str, dana_conversation: SavedConversation
) -> None:
    url = f"{chainlit_server.base_url}/project/thread/{dana_conversation.thread_id}"

    def both_messages():
        status, _, body = http_get(url, token=dana_token)
        if status != 200:
            return None, f"GET {url} answered {status}: {body[:300]}"
        thread = json.loads(body)
        kinds = {s["type"] for s in thread["steps"]}
        return (thread if {"user_message", "assistant_message"} <= kinds else None), thread

    thread = _poll(both_messages, "the thread's messages were not persisted", chainlit_server)
    assert thread["id"] == dana_conversation.thread_id
    assert thread["userIdentifier"] == CUSTOMER
    users_said = [s["output"] for s in thread["steps"] if s["type"] == "user_message"]
    assert users_said == [dana_conversation.question], thread["steps"]

    def full_reply():
        status, _, body = http_get(url, token=dana_token)
        latest = json.loads(body) if status == 200 else {"steps": [], "elements": []}
        replies = [s["output"] for s in latest["steps"] if s["type"] == "assistant_message"]
        done = any("30 days" in r and "Sources:" in r for r in replies) and latest["elements"]
        return (latest if done else None), latest

    # The streamed message is saved first, then updated with its final text and its sources' elements.
    latest = _poll(full_reply, "the assistant's final reply and its sources were not persisted", chainlit_server)
    replies = [s["output"] for s in latest["steps"] if s["type"] == "assistant_message"]
    assert dana_conversation.reply in replies, f"{dana_conversation.reply!r} not in {replies!r}"


def test_other_users_cannot_open_the_thread(
    chainlit_server: ChainlitServer, dana_token: str, lead_token: str, dana_conversation: SavedConversation
) -> None:
    thread_id = dana_conversation.thread_id
    url = f"{chainlit_server.base_url}/project/thread/{thread_id}"

    def owner_can_read():
        status, _, body = http_get(url, token=dana_token)
        return status == 200, f"{status}: {body[:300]}"

    # Wait until the thread is owned (persisted), so a refusal is about ownership, not a missing row.
    _poll(owner_can_read, "dana could not open her own thread", chainlit_server)
    status, _, body = http_get(url, token=lead_token)
    assert status != 200, f"the lead read the customer's thread: {body[:500]}"
    assert status in (401, 403, 404), f"GET another user's thread answered {status}: {body[:300]}"
    assert dana_conversation.question not in body

    status, page = _threads(chainlit_server, lead_token)
    assert status == 200, f"POST /project/threads as the lead answered {status}: {page}"
    assert thread_id not in {t["id"] for t in page["data"]}, f"the lead's thread list shows dana's thread: {page}"


def test_only_the_author_can_rate_a_reply(
    chainlit_server: ChainlitServer, dana_token: str, lead_token: str, dana_conversation: SavedConversation
) -> None:
    """Chainlit's own feedback routes check no ownership; ours stand in front of them."""
    base, thread_id = chainlit_server.base_url, dana_conversation.thread_id

    def reply_step():
        status, _, body = http_get(f"{base}/project/thread/{thread_id}", token=dana_token)
        steps = json.loads(body)["steps"] if status == 200 else []
        found = [s for s in steps if s["type"] == "assistant_message"]
        return (found[0] if found else None), f"{status}: {body[:300]}"

    step = _poll(reply_step, "dana's reply was not persisted", chainlit_server)

    def rate(token: str, value: int, comment: str) -> tuple[int, str]:
        update = {"feedback": {"forId": step["id"], "threadId": thread_id, "value": value, "comment": comment},
                  "sessionId": str(uuid.uuid4())}
        status, _, body = http_post_json(f"{base}/feedback", update, token=token, method="PUT")
        return status, body

    def saved_feedback() -> dict | None:
        _, _, body = http_get(f"{base}/project/thread/{thread_id}", token=dana_token)
        return next(s for s in json.loads(body)["steps"] if s["id"] == step["id"]).get("feedback")

    status, body = rate(lead_token, 0, "spoofed by someone else")
    assert status == 404, f"another user rated dana's reply: {status} {body[:300]}"
    assert saved_feedback() is None

    status, body = rate(dana_token, 1, "clear answer")
    assert status == 200, f"dana could not rate her own reply: {status} {body[:300]}\n{chainlit_server.log_tail()}"
    feedback_id = json.loads(body)["feedbackId"]
    assert (saved_feedback() or {}).get("value") == 1

    delete_url = f"{base}/feedback"
    status, _, body = http_post_json(delete_url, {"feedbackId": feedback_id}, token=lead_token, method="DELETE")
    assert status == 404, f"another user deleted dana's rating: {status} {body[:300]}"
    assert (saved_feedback() or {}).get("comment") == "clear answer"
    status, _, body = http_post_json(delete_url, {"feedbackId": feedback_id}, token=dana_token, method="DELETE")
    assert status == 200, f"dana could not remove her rating: {status} {body[:300]}"
    assert saved_feedback() is None


# --- the per-IP sign-in limit and the shop widget's sign-in, on a second server: every test here signs in
# from 127.0.0.1, and widget sign-ins (POST /auth/header) are not counted by the limit


@pytest.fixture(scope="module")
def throttle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    """A second server for the sign-in limit, so its exhausted bucket cannot refuse other tests' logins; it
    also accepts shop-signed widget tokens (AUTH_WIDGET_SECRET), which the first server leaves off.

    It skips the help centre (an empty docs folder: fast start). AUTH_LOGIN_BURST stays at the default 5;
    the refill rate is lowered to 1 a minute so a slow machine cannot earn a 6th attempt back mid-test.
    """
    workdir = tmp_path_factory.mktemp("chainlit-throttle")
    empty_docs = workdir / "no-docs"
    empty_docs.mkdir()
    env = {"KNOWLEDGE_DOCS_DIR": str(empty_docs), "AUTH_LOGIN_BURST": "5", "AUTH_LOGIN_ATTEMPTS_PER_MINUTE": "1",
           "AUTH_WIDGET_SECRET": WIDGET_SECRET}
    try:
        with run_chainlit(workdir, env=env) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def test_sixth_bad_sign_in_is_throttled(throttle_server: ChainlitServer) -> None:
    for attempt in range(1, 6):
        status, headers, body = post_login(throttle_server.base_url, "mallory@example.com", f"guess-{attempt}-xx")
        assert status == 401, f"bad attempt {attempt} answered {status}: {body[:300]}\n{throttle_server.log_tail()}"
        assert not cookies_set(headers).get(AUTH_COOKIE)
    # The limit is per client IP, not per account: a sixth try at another account is refused too.
    status, headers, body = post_login(throttle_server.base_url, CUSTOMER, "not-the-password")
    assert status == 429, f"the 6th bad attempt answered {status}: {body[:300]}\n{throttle_server.log_tail()}"
    assert "Too many sign-in attempts" in json.loads(body)["detail"], body
    assert int(headers.get("retry-after", "0")) >= 1, headers
    assert not cookies_set(headers).get(AUTH_COOKIE)


def _widget_token(email: str, sub: str) -> str:
    """What the shop's backend signs for its chat widget (see agent.web.auth.verify_shop_token)."""
    claims = {"sub": sub, "email": email, "name": email.split("@")[0].title(), "aud": "larkspur-support",
              "exp": int(time.time()) + 300}
    return jwt.encode(claims, WIDGET_SECRET, algorithm="HS256")


def _widget_sign_in(server: ChainlitServer, token: str) -> tuple[int, dict[str, str], str]:
    """POST /auth/header with the token in the widget header, as Chainlit's page does for header sign-in."""
    return post_empty(server.base_url, "/auth/header", {"X-Shop-Token": token})


def test_a_widget_token_signs_in_customers_only(throttle_server: ChainlitServer) -> None:
    """Chainlit reloads the stored account by identifier after a header sign-in: a shop token naming a lead's
    email would sign in as that lead. Only customers (existing or new) may sign in through the widget."""
    status, headers, body = _widget_sign_in(throttle_server, _widget_token(LEAD, "cust_evil"))
    assert status == 401, f"a widget token for the lead's email answered {status}: {body[:300]}"
    assert not cookies_set(headers).get(AUTH_COOKIE), f"it set a session: {headers.get('set-cookie')}"
    # Logged for the operators, with the address redacted as every log line's is.
    assert "[email] is a lead account" in throttle_server.log_text(), throttle_server.log_tail()
    assert LEAD not in throttle_server.log_text()

    for email, sub in ((CUSTOMER, "cust_42"), ("new.shopper@example.com", "cust_77")):
        status, headers, body = _widget_sign_in(throttle_server, _widget_token(email, sub))
        assert status == 200, f"a widget token for {email} answered {status}: {body[:300]}\n" \
                              f"{throttle_server.log_tail()}"
        token = cookies_set(headers).get(AUTH_COOKIE)
        assert token, f"no session cookie for {email}: {headers.get('set-cookie')}"
        status, _, body = http_get(f"{throttle_server.base_url}/user", token=token)
        assert status == 200, f"GET /user answered {status}: {body[:300]}"
        user = json.loads(body)
        assert (user["identifier"], user["metadata"]["role"]) == (email, "customer"), user


def test_saved_source_passages_can_be_loaded(
    chainlit_server: ChainlitServer, dana_token: str, lead_token: str, dana_conversation: SavedConversation
) -> None:
    url = f"{chainlit_server.base_url}/project/thread/{dana_conversation.thread_id}"

    def elements():
        status, _, body = http_get(url, token=dana_token)
        found = json.loads(body)["elements"] if status == 200 else []
        return found, f"{status}: {body[:300]}"

    element = _poll(elements, "no persisted elements", chainlit_server)[0]
    assert element.get("url"), element
    # What the page does when a resumed thread's source is opened: fetch the element's url with the cookie.
    status, headers, body = http_get(chainlit_server.base_url + element["url"], token=dana_token)
    assert status == 200, f"GET {element['url']} answered {status}"
    assert "text/html" not in headers.get("content-type", ""), f"{element['url']} served the page: {body[:200]}"
    assert "30 days" in body, body[:300]
    status, _, _ = http_get(chainlit_server.base_url + element["url"], token=lead_token)
    assert status == 404, "another user must not read dana's files"
    status, _, _ = http_get(chainlit_server.base_url + element["url"])
    assert status in (401, 404), "nor may an anonymous visitor"
