"""Sign-in plumbing that is not Chainlit's: the token secret, demo accounts, per-IP login limits, and roles
read from the users table (staff checks, widget sign-ins for customers only)."""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.datalayer.models import STAFF_ROLES
from agent.sessions.base import RateLimiter
from agent.settings import PROJECT_ROOT, Settings
from agent.users import normalize

if TYPE_CHECKING:
    from agent.datalayer.store import ChatStore

log = logging.getLogger(__name__)
SECRET_FILE = PROJECT_ROOT / ".data" / "auth-secret"
DEMO_ACCOUNTS = (("dana@example.com", "customer", "Dana (demo customer)"),
                 ("lead@larkspurgoods.example", "lead", "Lee (demo support lead)"))


def bearer_token(headers: Any) -> str:
    """The token of an `Authorization: Bearer <token>` header (any case of "Bearer"); empty without one."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def auth_secret(settings: Settings, path: Path = SECRET_FILE) -> str:
    """AUTH_SECRET, or one generated once and kept on disk, so sign-ins survive a restart.

    Several instances must share one: set AUTH_SECRET on all of them.
    """
    configured = settings.auth.secret.get_secret_value()
    if configured:
        return configured
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    log.warning("AUTH_SECRET is empty: generated one in %s (set AUTH_SECRET when running several instances)", path)
    return secret


async def ensure_demo_users(settings: Settings) -> None:
    from agent.datalayer.errors import UserExistsError
    from agent.users import create_user

    password = settings.auth.demo_password.get_secret_value()
    for identifier, role, name in DEMO_ACCOUNTS:
        try:
            await create_user(settings.database.url, identifier, password, role, name,
                              schema=settings.database.schema_name)
            log.info("created demo %s %s", role, identifier)
        except UserExistsError:
            pass


@dataclass(frozen=True)
class ShopCustomer:
    identifier: str  # what the customer signs in as: their email at the shop
    customer_id: str  # the shop's id for them, kept for the store tools
    display_name: str | None


def verify_shop_token(token: str, settings: Settings) -> ShopCustomer | None:
    """A customer named by a token the shop signed, or None if it is invalid, expired or not for us.

    The shop's backend signs {"sub": customer id, "email": ..., "name": ..., "aud": ..., "exp": ...}
    with AUTH_WIDGET_SECRET and puts it in the AUTH_WIDGET_HEADER header of the widget's requests.
    """
    import jwt

    cfg = settings.auth
    secret = cfg.widget_secret.get_secret_value()
    if not secret or not token:
        return None
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], audience=cfg.widget_audience, issuer=cfg.widget_issuer or None,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.PyJWTError as exc:
        log.info("widget token refused: %s", exc)
        return None
    identifier = str(claims.get("email") or claims["sub"]).strip().lower()
    return ShopCustomer(identifier, str(claims["sub"]), claims.get("name"))


async def stored_role(history: ChatStore, identifier: str | None) -> str | None:
    """The account's role as the users table says now; None when there is no such account.

    Never the role in a session or JWT: those are copies taken at sign-in.
    """
    if not identifier:
        return None
    row = await history.user_row(normalize(identifier))
    return row["role"] if row else None


async def is_staff(history: ChatStore, identifier: str | None) -> bool:
    """Whether the account is a lead or an admin, read from the database on each call."""
    return await stored_role(history, identifier) in STAFF_ROLES


async def widget_customer(token: str, settings: Settings, history: ChatStore) -> ShopCustomer | None:
    """The customer a valid shop token names, unless that identifier is a staff account.

    Chainlit reloads the stored user by identifier after sign-in, so a token naming a lead's or an admin's
    email would sign in as that account, role included: such tokens are refused, whoever signed them.
    """
    customer = verify_shop_token(token, settings)
    if customer is None:
        return None
    role = await stored_role(history, customer.identifier)
    if role not in (None, "customer"):
        log.warning("widget token refused: %s is a %s account, and the widget signs in customers only",
                    customer.identifier, role)
        return None
    return customer


FORWARDED_ALLOW_IPS = "FORWARDED_ALLOW_IPS"


def trust_forwarded_headers(settings: Settings) -> None:
    """Believe X-Forwarded-For (and -Proto) only from AUTH_TRUSTED_PROXIES.

    uvicorn rewrites the client address from X-Forwarded-For when the connection comes from FORWARDED_ALLOW_IPS,
    which defaults to 127.0.0.1: then anyone reaching the port over loopback (a local proxy passing headers
    through, a sidecar) picks the address the sign-in limit counts, and a new one per attempt escapes it.
    `chainlit run` imports app.py before it builds uvicorn's config, so setting the variable here is in time.
    """
    trusted = ",".join(settings.auth.trusted_proxies)
    previous = os.environ.get(FORWARDED_ALLOW_IPS)
    if previous is not None and previous != trusted:
        log.warning("%s=%r is replaced by AUTH_TRUSTED_PROXIES=%r", FORWARDED_ALLOW_IPS, previous, trusted)
    os.environ[FORWARDED_ALLOW_IPS] = trusted


class LoginThrottle:
    """ASGI middleware: too many POST /login from one client IP get a 429 with a clear message.

    The IP is the connecting address, or what a trusted proxy forwarded (see `trust_forwarded_headers`).
    """

    def __init__(self, app: Any, limiter: RateLimiter, path: str = "/login") -> None:
        self.app = app
        self.limiter = limiter
        self.path = path

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path:
            client = (scope.get("client") or ("unknown", 0))[0]
            decision = await self.limiter.hit(f"login:{client}")
            if not decision.allowed:
                wait = max(1, round(decision.retry_after_s))
                body = json.dumps({"detail": f"Too many sign-in attempts. Please try again in {wait} seconds."})
                await send({"type": "http.response.start", "status": 429, "headers": [
                    (b"content-type", b"application/json"), (b"retry-after", str(wait).encode())]})
                await send({"type": "http.response.body", "body": body.encode()})
                return
        await self.app(scope, receive, send)
