"""The HTTP API (/api/v1) on a real `chainlit run app.py`, driven with httpx as a shop's server would: a whole
return (identify, card, confirm) checked in the store, streaming, idempotent retries, problem details, and
ownership across channels. tests/test_api_fuzz.py runs schemathesis against the served schema."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import jwt
import orjson
import pytest

from tests.chainlit_server import CUSTOMER, DEMO_PASSWORD, ChainlitServer, login, run_chainlit

pytestmark = pytest.mark.server
SHOP_SECRET = "shop-api-secret-" + "s" * 40
API = "/api/v1"
PROBLEM = "application/problem+json"


def shop_token(email: str = CUSTOMER, sub: str = "dana_whitfield_1001", ttl_s: int = 300,
               secret: str = SHOP_SECRET) -> str:  # fmt: skip
    """What the shop's backend signs for its customer (see agent.web.auth.verify_shop_token)."""
    claims = {"sub": sub, "email": email, "name": email.split("@")[0].title(), "aud": "larkspur-support",
              "exp": int(time.time()) + ttl_s}  # fmt: skip
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChainlitServer]:
    env = {"AUTH_WIDGET_SECRET": SHOP_SECRET, "SESSION_RATE_LIMIT_BURST": "100"}
    try:
        with run_chainlit(tmp_path_factory.mktemp("chainlit-api"), env=env) as running:
            yield running
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def dana(server: ChainlitServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {shop_token()}"}
    with httpx.Client(base_url=server.base_url + API, headers=headers, timeout=120) as client:
        yield client


def new_conversation(client: httpx.Client) -> str:
    created = client.post("/conversations")
    assert created.status_code == 201, created.text
    return created.json()["id"]


def say(client: httpx.Client, conversation_id: str, text: str, **headers: str) -> dict:
    answer = client.post(f"/conversations/{conversation_id}/messages", json={"text": text}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def order_status(server: ChainlitServer, order_id: str) -> str:
    return server.rows("SELECT status FROM store_orders WHERE id = ?", order_id)[0][0]


def test_a_whole_return_over_http(server: ChainlitServer, dana: httpx.Client) -> None:
    conversation_id = new_conversation(dana)
    first = say(dana, conversation_id, "I want to return the headphones from my last order")
    assert first["status"] == "completed" and first["events"][-1]["type"] == "done", first
    turn = say(dana, conversation_id, "Visa ending 4242") if not first["cards"] else first
    [card] = turn["cards"]
    assert card["tool"] == "return_delivered_order_items" and "token" not in orjson.dumps(turn).decode()
    assert order_status(server, "#W1001001") == "delivered", "the card only previews"

    url = f"/conversations/{conversation_id}/confirmations/{card['id']}"
    confirmed = dana.post(url, json={"approve": True}, headers={"Idempotency-Key": "click-1"})
    assert confirmed.status_code == 200 and "is requested" in confirmed.json()["reply"], confirmed.text
    assert order_status(server, "#W1001001") == "return requested"
    again = dana.post(url, json={"approve": True}, headers={"Idempotency-Key": "click-1"})
    assert again.json() == confirmed.json()  # the retry gets the first answer
    assert dana.post(url, json={"approve": False}).json()["reply"] == confirmed.json()["reply"]  # single-use

    transcript = dana.get(f"/conversations/{conversation_id}/messages").json()["messages"]
    assert transcript[0] == {**transcript[0], "role": "customer",
                             "text": "I want to return the headphones from my last order"}  # fmt: skip
    assert any(m["role"] == "assistant" and "is requested" in m["text"] for m in transcript)


def test_a_retried_message_is_one_turn(server: ChainlitServer, dana: httpx.Client) -> None:
    conversation_id = new_conversation(dana)
    first = say(dana, conversation_id, "How long does standard shipping take?", **{"Idempotency-Key": "m-1"})
    retried = say(dana, conversation_id, "How long does standard shipping take?", **{"Idempotency-Key": "m-1"})
    assert retried == first and "business days" in first["reply"]
    messages = dana.get(f"/conversations/{conversation_id}/messages").json()["messages"]
    assert [m["role"] for m in messages] == ["customer", "assistant"], messages
    reused = dana.post(f"/conversations/{conversation_id}/messages", json={"text": "something else"},
                       headers={"Idempotency-Key": "m-1"})  # fmt: skip
    assert reused.status_code == 422 and reused.headers["content-type"].startswith(PROBLEM)
    assert reused.json()["type"] == "/api/v1/problems/idempotency-key-reused"


def test_the_turn_streams_as_typed_server_sent_events(dana: httpx.Client) -> None:
    conversation_id = new_conversation(dana)
    url = f"/conversations/{conversation_id}/messages"
    with dana.stream("POST", url, json={"text": "How long do I have to return an item?"},
                     headers={"Accept": "text/event-stream"}) as response:  # fmt: skip
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = [frame for frame in response.read().decode().split("\n\n") if frame.strip()]
    events = [(f.split("\n")[0].removeprefix("event: "), orjson.loads(f.split("\n")[1].removeprefix("data: ")))
              for f in frames]  # fmt: skip
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and "text_delta" in kinds and "sources" in kinds, kinds
    assert all(kind == data["type"] for kind, data in events)
    assert "30 days" in "".join(data["text"] for kind, data in events if kind == "text_delta")


def test_errors_are_problem_details_and_never_another_customers_data(server: ChainlitServer,
                                                                      dana: httpx.Client) -> None:  # fmt: skip
    base = server.base_url + API
    mine = new_conversation(dana)
    anonymous = httpx.post(f"{base}/conversations", timeout=30)
    forged = httpx.get(f"{base}/conversations", timeout=30,
                       headers={"Authorization": f"Bearer {shop_token(secret='not-the-shop-secret-' + 'x' * 30)}"})
    expired = httpx.get(f"{base}/conversations", timeout=30, headers={"Authorization": f"Bearer {shop_token(ttl_s=-60)}"})
    for refused in (anonymous, forged, expired):
        assert refused.status_code == 401 and refused.headers["content-type"].startswith(PROBLEM), refused.text
        assert set(refused.json()) == {"type", "title", "status", "detail"} and "Traceback" not in refused.text
    other = {"Authorization": f"Bearer {shop_token('sam.lee@example.com', 'sam_lee_2002')}"}
    with httpx.Client(base_url=base, headers=other, timeout=60) as sam:
        assert [c["id"] for c in sam.get("/conversations").json()["conversations"]] == []
        for response in (sam.get(f"/conversations/{mine}/messages"),
                         sam.post(f"/conversations/{mine}/messages", json={"text": "hello"})):
            assert response.status_code == 404 and response.json()["type"] == "/api/v1/problems/not-found"
    for body, status in (({"text": "x" * 100_000}, 422), ({"txt": "hi"}, 422), ({"text": "   "}, 422)):
        answer = dana.post(f"/conversations/{mine}/messages", json=body)
        assert answer.status_code == status and answer.headers["content-type"].startswith(PROBLEM), answer.text
    assert dana.post(f"/conversations/{mine}/messages", content=b"hi", headers={"Content-Type": "text/plain"}
                     ).status_code == 415  # fmt: skip
    assert dana.post(f"/conversations/{mine}/confirmations/{uuid.uuid4().hex}", json={"approve": True}
                     ).status_code == 404  # fmt: skip
    assert dana.get(f"/conversations/{mine}/messages").json()["messages"] == [], "nothing refused was stored"


def test_conversations_cross_channels_for_their_owner(server: ChainlitServer, dana: httpx.Client) -> None:
    """Started over the API: in Dana's Chainlit history. Started in the page: readable over the API by Dana."""
    conversation_id = new_conversation(dana)
    say(dana, conversation_id, "How long does standard shipping take?")
    token = login(server.base_url, CUSTOMER, DEMO_PASSWORD)
    page = httpx.post(f"{server.base_url}/project/threads", json={"pagination": {"first": 20}, "filter": {}},
                      cookies={"access_token": token}, timeout=30)  # fmt: skip
    assert conversation_id in [t["id"] for t in page.json()["data"]], page.text
    page_thread = server.rows("SELECT t.id FROM threads t JOIN users u ON u.id = t.user_id WHERE u.identifier = ? "
                              "AND t.id != ?", CUSTOMER, conversation_id)  # fmt: skip
    listed = [c["id"] for c in dana.get("/conversations").json()["conversations"]]
    assert conversation_id in listed and all(row[0] in listed for row in page_thread)


def test_a_file_sent_with_a_message_is_read_like_the_pages(dana: httpx.Client) -> None:
    conversation_id = new_conversation(dana)
    note = b"Delivery note\n\nThe secret word in note 7 is heron.\n"
    answer = dana.post(f"/conversations/{conversation_id}/messages", data={"text": "what is the secret word in note 7?"},
                       files=[("files", ("note_7.txt", note, "text/plain"))])  # fmt: skip
    assert answer.status_code == 200 and "heron" in answer.json()["reply"], answer.text
    empty = dana.post(f"/conversations/{conversation_id}/messages", files=[("files", ("blank.txt", b"", "text/plain"))])
    assert empty.status_code == 200 and "empty" in empty.json()["reply"], empty.text  # the page's own check and words
    too_many = dana.post(f"/conversations/{conversation_id}/messages",
                         files=[("files", (f"n{i}.txt", note, "text/plain")) for i in range(10)])  # fmt: skip
    assert too_many.status_code == 422 and too_many.headers["content-type"].startswith(PROBLEM), too_many.text


def test_a_server_calls_with_an_api_key_and_a_signed_customer_claim(server: ChainlitServer) -> None:
    url = f"sqlite+aiosqlite:///{server.database_path}"

    def users_cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "agent.users", "--database-url", url, *args], check=True,
                              capture_output=True, text=True)  # fmt: skip
        return done.stdout

    key = users_cli("api-key-create", "--name", "shop backend").strip().splitlines()[-1]
    assert key.startswith("lk_") and key not in "".join(map(str, server.rows("SELECT * FROM api_keys")))  # hashed
    base = server.base_url + API
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as backend:
        assert backend.get("/conversations").status_code == 401  # a key alone names no customer
        dana = {"X-Customer-Token": shop_token()}
        assert backend.post("/conversations", headers=dana).status_code == 201
        forged = {"X-Customer-Token": shop_token(secret="not-the-shop-secret-" + "y" * 30)}
        assert backend.get("/conversations", headers=forged).status_code == 401
        assert backend.get("/conversations", headers={"X-Customer-Token": "dana@example.com"}).status_code == 401
        key_id = key.removeprefix("lk_").split("_")[0]
        users_cli("api-key-revoke", "--id", key_id)
        revoked = backend.get("/conversations", headers=dana)
        assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    wrong = httpx.get(f"{base}/conversations", headers={"Authorization": f"Bearer {key[:-4]}abcd", **dana}, timeout=30)
    assert wrong.status_code == 401
