"""Bad input sent to a real `chainlit run app.py`, as the page (or a client that skips the page's checks) sends it:
each gets a clear answer, and nothing is stored (no history step, no file in the session's folder).

The server skips the help centre (an empty docs folder) for a fast start; the checks do not need it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.app_server_fixtures import ChatClient
from tests.chainlit_server import CUSTOMER, DEMO_PASSWORD, ROOT, ChainlitServer, login, server_without_docs
from tests.cluster import Turn, assemble
from tests.test_bad_input_archives import docx_bomb

REPLY_TIMEOUT_S = 60.0
TEXT = "text/plain"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    yield from server_without_docs(tmp_path_factory, "bad-input")


@pytest.fixture(scope="module")
def token(server: ChainlitServer) -> str:
    return login(server.base_url, CUSTOMER, DEMO_PASSWORD)


@pytest.fixture
async def client(server: ChainlitServer, token: str):
    chat = ChatClient(server, token)
    await chat.connect()
    try:
        yield chat
    finally:
        await chat.close()


async def upload(client: ChatClient, name: str, data: bytes, mime: str = TEXT) -> httpx.Response:
    """POST /project/file for the client's session, as the page does when a file is attached."""
    async with httpx.AsyncClient(base_url=client.server.base_url, timeout=60,
                                 cookies={"access_token": client.token}) as http:
        return await http.post("/project/file", params={"session_id": client.session_id},
                               files={"file": (name, data, mime)})


async def send(client: ChatClient, text: str, file_ids: list[str] | None = None) -> tuple[str, Turn]:
    """Send a message (with file references) and wait for its turn to end; returns the message id and the turn."""
    message_id = str(uuid.uuid4())
    message = {"id": message_id, "threadId": "", "name": "User", "type": "user_message", "output": text,
               "createdAt": ""}
    refs = [{"id": file_id} for file_id in file_ids] if file_ids is not None else None
    await client.sio.emit("client_message", {"message": message, "fileReferences": refs})
    events: list[tuple[float, str, Any]] = []
    try:
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            events += await client._next_event("task_start", REPLY_TIMEOUT_S)
            events += await client._next_event("task_end", REPLY_TIMEOUT_S)
    except TimeoutError:
        pytest.fail(f"no answer within {REPLY_TIMEOUT_S:.0f} s to a {len(text)}-character message "
                    f"(socket connected: {client.sio.connected})\n{client.server.log_tail()}")
    return message_id, assemble(events)


def said(turn: Turn) -> str:
    """Everything the page was shown in a turn: messages and streamed text."""
    texts = [str(m.get("output") or "") for m in turn.messages.values()] + list(turn.streamed.values())
    return "\n".join(texts)


def session_files(client: ChatClient) -> list[Path]:
    """Files Chainlit stored for the session (its upload folder under the app's root)."""
    folder = ROOT / ".files" / client.session_id
    return sorted(folder.iterdir()) if folder.exists() else []


def stored_steps(server: ChainlitServer) -> list[tuple[str, str]]:
    with sqlite3.connect(server.database_path) as db:
        return [(row[0], row[1] or "") for row in db.execute("SELECT id, output FROM steps")]


async def assert_not_stored(client: ChatClient, refused_id: str, reply: str) -> None:
    """Chainlit saves a conversation's steps once it has begun, so a normal message follows the refused one:
    once that one is saved, the refused message and its answer would have been saved too."""
    next_id, turn = await send(client, "hello")
    assert said(turn).strip(), f"no answer to a normal message after the refusal\n{client.server.log_tail()}"
    deadline = time.monotonic() + 15
    while next_id not in dict(stored_steps(client.server)):
        assert time.monotonic() < deadline, "the normal message was never saved: the check below would prove nothing"
        await asyncio.sleep(0.2)
    steps = stored_steps(client.server)
    assert refused_id not in dict(steps), "the refused message was saved"
    assert not [output for _, output in steps if reply in output], "the refusal was saved"


# --- uploads: refused at the upload route, before Chainlit stores the file


async def test_an_empty_file_gets_a_clear_400_and_nothing_is_stored(client: ChatClient) -> None:
    response = await upload(client, "notes.txt", b"")
    assert response.status_code == 400, f"{response.status_code}: {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json")  # the page shows `detail` then
    assert response.json()["detail"] == "Couldn't attach notes.txt: the file is empty."
    assert session_files(client) == []
    async with httpx.AsyncClient(base_url=client.server.base_url, timeout=30) as http:
        metrics = (await http.get("/metrics")).text
    assert 'support_upload_rejections_total{reason="empty"} 1.0' in metrics, "the refusal is counted"


async def test_a_file_past_the_limit_is_refused_at_upload_until_the_message_is_sent(client: ChatClient) -> None:
    ids = []
    for number in range(3):
        response = await upload(client, f"note-{number}.txt", f"Note {number}: the secret word is plum.".encode())
        assert response.status_code == 200, response.text
        ids.append(response.json()["id"])
    response = await upload(client, "note-3.txt", b"Note 3: one too many.")
    assert response.status_code == 400, f"{response.status_code}: {response.text[:300]}"
    assert response.json()["detail"].startswith("You can attach up to 3 files per message.")
    assert len(session_files(client)) == 3, "the refused fourth file was stored"

    _, turn = await send(client, "What do my notes say?", ids)
    assert said(turn).count("I've read") == 3, said(turn)
    response = await upload(client, "note-3.txt", b"Note 3: the next message's file.")
    assert response.status_code == 200, f"a new message may carry files again: {response.text[:300]}"


async def test_a_message_naming_too_many_files_is_answered_and_not_stored(client: ChatClient) -> None:
    refused_id, turn = await send(client, "Read these", [str(uuid.uuid4()) for _ in range(4)])
    reply = "You can attach up to 3 files per message."
    assert reply in said(turn), said(turn)
    await assert_not_stored(client, refused_id, reply)


async def test_a_zip_bomb_is_refused_with_its_reason_without_the_memory_growing(client: ChatClient) -> None:
    bomb = docx_bomb(1024)
    peak_before = peak_memory_mb(client.server)
    response = await upload(client, "bomb.docx", bomb, DOCX)
    assert response.status_code == 200, response.text  # 1 MB: fine for the route; the content is checked on reading
    _, turn = await send(client, "", [response.json()["id"]])
    assert "I couldn't use **bomb.docx**: the file would unpack to 1,024 MB" in said(turn), said(turn)
    grown = peak_memory_mb(client.server) - peak_before
    assert grown < 300, f"the server's peak memory grew by {grown:.0f} MB while refusing a 1 MB file"


def peak_memory_mb(server: ChainlitServer) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc: peak memory unknown")


# --- messages: answered before Chainlit saves them


async def test_a_whitespace_message_gets_a_reply_and_is_not_stored(client: ChatClient) -> None:
    refused_id, turn = await send(client, "  \n\t  ")
    assert "Please type a question." in said(turn), said(turn)
    await assert_not_stored(client, refused_id, "Please type a question.")


async def test_a_message_over_a_megabyte_is_answered_too_long_and_the_socket_stays(client: ChatClient) -> None:
    refused_id, turn = await send(client, "a" * 1_500_000)  # over engine.io's default 1 MB buffer
    reply = "Your message is too long (1500000 characters). Please keep it under 4000."
    assert reply in said(turn), said(turn)
    assert client.sio.connected
    await assert_not_stored(client, refused_id, reply)


# --- another site's page opening the chat socket (cross-site WebSocket hijacking) -----------------------------
EVIL = "https://evil.example"


def _handshake(server: ChainlitServer, token: str, origin: str | None) -> httpx.Response:
    """socket.io's first polling request, as a browser page sends it (with the cookie, and its Origin)."""
    headers = {"Origin": origin} if origin else {}
    return httpx.get(f"{server.base_url}/ws/socket.io/", params={"EIO": "4", "transport": "polling"},
                     headers=headers, cookies={"access_token": token}, timeout=30)


def test_another_site_cannot_open_a_socket_with_the_customer_s_cookie(server: ChainlitServer, token: str):
    refused = _handshake(server, token, EVIL)
    assert refused.status_code == 403 and "may not open a chat connection" in refused.text
    assert _handshake(server, token, server.base_url).status_code == 200, "the app's own page connects"
    assert _handshake(server, token, "http://localhost:8000").status_code == 200, "config.toml's allow_origins"
    assert _handshake(server, token, None).status_code == 200, "a client without a page sends no Origin"


async def test_a_websocket_from_another_site_is_refused(server: ChainlitServer, token: str):
    import socketio

    async def connect(origin: str) -> None:
        client = socketio.AsyncClient()
        try:
            await client.connect(server.base_url, socketio_path="/ws/socket.io", transports=["websocket"],
                                 headers={"Cookie": f"access_token={token}", "Origin": origin}, wait_timeout=10,
                                 auth={"clientType": "webapp", "sessionId": str(uuid.uuid4()), "userEnv": "{}",
                                       "chatProfile": "Support"})
        finally:
            await client.disconnect()

    await connect(server.base_url)  # the same handshake from the app's own page connects
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(EVIL)
