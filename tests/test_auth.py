"""Sign-in plumbing: the token secret, shop-signed widget tokens (for customers only), staff roles read from
the users table, the per-IP sign-in throttle."""

from __future__ import annotations

import time

import jwt
import pytest

from agent.web.auth import LoginThrottle, auth_secret, is_staff, verify_shop_token, widget_customer
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


ROLES = {"dana@example.com": "customer", "lead@larkspurgoods.example": "lead", "boss@larkspurgoods.example": "admin"}


class Accounts:
    """The one ChatStore method the role checks use: `user_row(identifier)`, a users-table row or None."""

    def __init__(self, roles: dict[str, str]) -> None:
        self.roles = roles
        self.asked: list[str] = []

    async def user_row(self, identifier: str) -> dict | None:
        self.asked.append(identifier)
        role = self.roles.get(identifier)
        return {"identifier": identifier, "role": role} if role else None


async def test_a_widget_token_may_not_name_a_staff_account(caplog):
    accounts = Accounts(ROLES)
    for staff in ("Lead@LarkspurGoods.example", "boss@larkspurgoods.example"):
        assert await widget_customer(token(email=staff), settings(), accounts) is None, staff
    assert "lead@larkspurgoods.example is a lead account" in caplog.text
    assert accounts.asked[0] == "lead@larkspurgoods.example", "looked up trimmed and lower-case"

    known = await widget_customer(token(), settings(), accounts)
    assert known and known.identifier == "dana@example.com"
    new = await widget_customer(token(email="new@example.com", sub="cust_7"), settings(), accounts)
    assert new and (new.identifier, new.customer_id) == ("new@example.com", "cust_7"), "no account yet: a customer"
    assert await widget_customer(token(exp=int(time.time()) - 10), settings(), accounts) is None


async def test_staff_are_leads_and_admins_in_the_users_table():
    accounts = Accounts(ROLES)
    assert await is_staff(accounts, "lead@larkspurgoods.example")
    assert await is_staff(accounts, " Boss@LarkspurGoods.example ")
    assert not await is_staff(accounts, "dana@example.com")
    assert not await is_staff(accounts, "nobody@example.com")
    assert not await is_staff(accounts, None) and not await is_staff(accounts, "")


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
