"""Sign-in plumbing: the token secret, shop-signed widget tokens, the per-IP sign-in throttle."""

from __future__ import annotations

import time

import jwt
import pytest

from agent.web.auth import LoginThrottle, auth_secret, verify_shop_token
from agent.sessions.memory import MemoryRateLimiter
from agent.settings import AuthSettings, Settings

SECRET = "shop-secret-" + "x" * 40


def settings(**auth) -> Settings:
    return Settings(auth=AuthSettings(widget_secret=SECRET, **auth))


def token(**overrides) -> str:
    claims = {"sub": "cust_42", "email": "Dana@Example.com", "name": "Dana", "aud": "larkspur-support",
              "exp": int(time.time()) + 300} | overrides
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256")


def test_a_valid_shop_token_names_the_customer():
    customer = verify_shop_token(token(), settings())
    assert (customer.identifier, customer.customer_id, customer.display_name) == ("dana@example.com", "cust_42", "Dana")


@pytest.mark.parametrize("bad", [
    {"exp": int(time.time()) - 10},
    {"aud": "someone-else"},
    {"exp": None},
    {"sub": None},
])
def test_invalid_tokens_are_refused(bad):
    assert verify_shop_token(token(**bad), settings()) is None


def test_wrong_signature_issuer_and_algorithm_are_refused():
    forged = jwt.encode({"sub": "cust_42", "aud": "larkspur-support", "exp": int(time.time()) + 60},
                        "not-the-shop-secret-" + "y" * 30, algorithm="HS256")
    assert verify_shop_token(forged, settings()) is None
    assert verify_shop_token(token(iss="evil"), settings(widget_issuer="https://shop.example")) is None
    assert verify_shop_token(token(iss="https://shop.example"), settings(widget_issuer="https://shop.example"))
    unsigned = jwt.encode({"sub": "cust_42", "aud": "larkspur-support", "exp": int(time.time()) + 60}, None,
                          algorithm="none")
    assert verify_shop_token(unsigned, settings()) is None
    assert verify_shop_token(token(), Settings()) is None, "no secret configured: widget login is off"


def test_secret_is_generated_once_and_kept(tmp_path):
    path = tmp_path / "auth-secret"
    first = auth_secret(Settings(), path)
    assert len(first) >= 40 and auth_secret(Settings(), path) == first
    assert auth_secret(Settings(auth=AuthSettings(secret="configured")), path) == "configured"


async def test_login_throttle_answers_429_per_client_ip():
    calls = []

    async def app(scope, receive, send):
        calls.append(scope["path"])

    throttle = LoginThrottle(app, MemoryRateLimiter(per_minute=1, burst=2))
    sent = []

    async def send(message):
        sent.append(message)

    def scope(ip: str, path: str = "/login") -> dict:
        return {"type": "http", "method": "POST", "path": path, "client": (ip, 1234)}

    for _ in range(3):
        await throttle(scope("10.0.0.1"), None, send)
    assert calls == ["/login", "/login"]
    assert sent[0]["status"] == 429 and b"Too many sign-in attempts" in sent[1]["body"]
    await throttle(scope("10.0.0.2"), None, send)
    await throttle(scope("10.0.0.1", "/project/threads"), None, send)
    assert calls == ["/login", "/login", "/login", "/project/threads"], "other IPs and other paths pass"
