"""The real `chainlit run app.py` process: the page, its public routes, and full chat turns over Chainlit's
websocket.

Sign-in, the persisted history and who may read or rate it are in tests/test_app_server_auth.py; the shared
fixtures and the socket.io `ChatClient` in tests/app_server_fixtures.py.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import socketio

from tests.app_server_fixtures import (  # noqa: F401  (chainlit_server, dana_sign_in and dana_token are fixtures)
    RETURNS_QUESTION,
    SUPPORT_EMAIL,
    ChainlitServer,
    ChatClient,
    chainlit_server,
    dana_sign_in,
    dana_token,
    http_get,
)

pytestmark = pytest.mark.server


def test_page_is_served(chainlit_server: ChainlitServer) -> None:
    # The page itself is public: it shows the login form until the cookie exists.
    status, headers, body = http_get(f"{chainlit_server.base_url}/")
    assert status == 200, f"GET / answered {status}\n{chainlit_server.log_tail()}"
    assert "text/html" in headers.get("content-type", headers.get("Content-Type", "")), headers
    assert "<title>Larkspur Assistant</title>" in body, body[:2000]


def test_health(chainlit_server: ChainlitServer) -> None:
    status, _, body = http_get(f"{chainlit_server.base_url}/health")
    assert status == 200, f"GET /health answered {status}: {body}\n{chainlit_server.log_tail()}"
    circuits = {"conversation": "closed", "helpdesk": "closed", "knowledge": "closed", "store": "closed"}
    assert json.loads(body) == {"status": "ok", "circuits": circuits}


def test_auth_config_offers_password_login(chainlit_server: ChainlitServer) -> None:
    status, _, body = http_get(f"{chainlit_server.base_url}/auth/config")
    assert status == 200, f"GET /auth/config answered {status}: {body[:500]}\n{chainlit_server.log_tail()}"
    data = json.loads(body)
    assert data["requireLogin"] is True, data
    assert data["passwordAuth"] is True, data


def test_project_settings(chainlit_server: ChainlitServer, dana_token: str) -> None:
    status, _, body = http_get(f"{chainlit_server.base_url}/project/settings?language=en-US", token=dana_token)
    assert status == 200, f"GET /project/settings answered {status}: {body[:500]}\n{chainlit_server.log_tail()}"
    data = json.loads(body)
    assert data["ui"]["name"] == "Larkspur Assistant"
    profiles = {p["name"]: p for p in data["chatProfiles"]}
    assert list(profiles) == ["Support"], profiles
    assert "Larkspur Goods assistant" in profiles["Support"]["markdown_description"]
    starters = [s["message"] for s in profiles["Support"]["starters"]]
    assert "How long do I have to return an item?" in starters
    assert "Larkspur Goods support" in data["markdown"]  # chainlit.md, shown as the readme


async def test_socket_without_cookie_is_refused(chainlit_server: ChainlitServer) -> None:
    client = ChatClient(chainlit_server, token="")
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.sio.connect(
                chainlit_server.base_url,
                socketio_path="/ws/socket.io",
                transports=["websocket"],
                auth={"clientType": "webapp", "sessionId": client.session_id, "userEnv": "{}"},
                wait_timeout=30,
            )
    finally:
        await client.close()


async def test_chat_turns_over_websocket(chainlit_server: ChainlitServer, dana_token: str) -> None:
    client = ChatClient(chainlit_server, dana_token)
    try:
        await client.connect()

        # 1. A question the help centre answers: streamed, cited, with the cited passages as side elements.
        turn = await client.ask(RETURNS_QUESTION)
        context = f"\nevents:\n{turn.summary()}\n{chainlit_server.log_tail()}"
        reply = turn.reply
        assert reply["id"] in turn.streamed, f"the answer was not streamed{context}"
        streamed = turn.streamed[reply["id"]]
        assert "30 days" in streamed, f"streamed reply: {streamed!r}{context}"
        assert "[1]" in streamed, f"no citation marker in the streamed reply: {streamed!r}{context}"
        final = reply["output"]
        assert final.startswith(streamed), f"final message {final!r} is not the streamed text {streamed!r}"
        assert "Sources:" in final, f"final message: {final!r}{context}"
        assert "30 days" in final and "[1]" in final

        elements = turn.elements
        returns = [e for e in elements if "Returns" in (e.get("name") or "")]
        assert returns, f"no element named after the Returns article: {[e.get('name') for e in elements]}{context}"
        for element in elements:
            assert element["forId"] == reply["id"], f"element {element['name']!r} not attached to the reply"
            assert element["display"] == "side"
            assert element["name"] in final, f"source line does not name element {element['name']!r}: {final!r}"
        assert any(e["name"].startswith("[1] ") for e in elements), "no element for citation [1]"
        passage = await client.fetch_element_text(returns[0])
        assert "30 days" in passage, f"passage of {returns[0]['name']!r}: {passage!r}"

        # 2. Same session, a question the help centre does not cover: no guessing, no sources, a human offered.
        turn = await client.ask("Do you sell cars?")
        context = f"\nevents:\n{turn.summary()}\n{chainlit_server.log_tail()}"
        reply = turn.reply
        final = reply["output"]
        # The first words stream at once; the rest may arrive with the final message (CHAT_STREAM_INTERVAL_S).
        assert final.startswith(turn.streamed.get(reply["id"], "")), f"final {final!r} does not continue the stream"
        assert "don't know" in final, f"reply: {final!r}{context}"
        assert SUPPORT_EMAIL in final, f"reply does not offer the support email: {final!r}{context}"
        assert "Sources:" not in final, f"an unanswerable question was given sources: {final!r}{context}"
        assert not turn.elements, f"unexpected source elements: {[e.get('name') for e in turn.elements]}{context}"
    finally:
        await client.close()


CONCURRENT_CHATS = 100  # what one instance must serve at once


async def test_a_hundred_chats_connect_at_once(chainlit_server: ChainlitServer, dana_token: str) -> None:
    """Chainlit computed each new session's config in a nested event loop; with many sockets connecting at once
    the nested loops recursed until RecursionError, and about two in three connections failed."""
    clients = [ChatClient(chainlit_server, dana_token) for _ in range(CONCURRENT_CHATS)]
    try:
        outcomes = await asyncio.gather(*(c.connect() for c in clients), return_exceptions=True)
        failed = [repr(o)[:200] for o in outcomes if isinstance(o, BaseException)]
        assert not failed, f"{len(failed)} of {CONCURRENT_CHATS} connections failed: {failed[:3]}\n" \
                           f"{chainlit_server.log_tail()}"
        turn = await clients[-1].ask(RETURNS_QUESTION)  # and the last one to connect is answered
        assert "30 days" in turn.reply_text, turn.summary()
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
