"""API keys for server-to-server clients of the HTTP API, as `lk_<id>_<secret>`.

Only the SHA-256 of the secret is stored (the key is random: 256 bits need no slow hash), and the key is shown
once, when created. A key says which client calls; the customer a call acts for is named by a claim the shop
signed (agent/web/api/auth.py), never by the key alone.

    python -m agent.users api-key-create --name "shop backend"
    python -m agent.users api-key-list
    python -m agent.users api-key-revoke --id <id>
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer.errors import DataLayerError
from agent.datalayer.models import ApiKey
from tools.store.sql import utcnow

PREFIX = "lk_"
ID_BYTES, SECRET_BYTES = 8, 32
api_keys = ApiKey.__table__


@dataclass(frozen=True)
class ApiKeyRow:
    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _parts(key: str) -> tuple[str, str] | None:
    if not key.startswith(PREFIX):
        return None
    key_id, _, secret = key[len(PREFIX):].partition("_")
    return (key_id, secret) if key_id and secret else None


def is_api_key(token: str) -> bool:
    return _parts(token) is not None


async def create(conn: AsyncConnection, name: str) -> str:
    """A new key for `name`; the whole key is returned once and never stored."""
    if not name.strip():
        raise ValueError("an API key needs a name (which client uses it)")
    key_id, secret = secrets.token_hex(ID_BYTES), secrets.token_urlsafe(SECRET_BYTES)
    await conn.execute(api_keys.insert().values(id=key_id, name=name.strip(), secret_sha256=_digest(secret),
                                                created_at=utcnow()))  # fmt: skip
    return f"{PREFIX}{key_id}_{secret}"


async def client_of(conn: AsyncConnection, key: str) -> str | None:
    """The name of the client a live key belongs to; None for an unknown, revoked or wrong key."""
    parts = _parts(key)
    if parts is None:
        return None
    row = (await conn.execute(select(api_keys.c.name, api_keys.c.secret_sha256)
                              .where(api_keys.c.id == parts[0], api_keys.c.revoked_at.is_(None)))).first()  # fmt: skip
    return row.name if row is not None and hmac.compare_digest(row.secret_sha256, _digest(parts[1])) else None


async def listed(conn: AsyncConnection) -> list[ApiKeyRow]:
    rows = await conn.execute(select(api_keys.c.id, api_keys.c.name, api_keys.c.created_at, api_keys.c.revoked_at)
                              .order_by(api_keys.c.created_at))  # fmt: skip
    return [ApiKeyRow(*row) for row in rows]


async def revoke(conn: AsyncConnection, key_id: str) -> None:
    done = await conn.execute(update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                              .values(revoked_at=utcnow()))  # fmt: skip
    if not done.rowcount:
        raise DataLayerError(f"no live API key {key_id}")
