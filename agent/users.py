"""Accounts with argon2 passwords, and the CLI that manages them.

    python -m agent.users add --role lead --identifier lead@example.com [--password ...] [--database-url URL]
    python -m agent.users list
    python -m agent.users set-password --identifier lead@example.com
    python -m agent.users api-key-create --name "shop backend"   (and api-key-list, api-key-revoke --id ID)

Every command takes --database-url URL (default: DATABASE_URL) and --schema NAME (default:
DATABASE_SCHEMA_NAME), before or after the command's name (`python -m agent.users --schema s list`).

Without --password the CLI prompts (or reads one line from a pipe), which keeps
passwords out of shell history. Identifiers are compared trimmed and lower-case.
This module must not import Chainlit: the CLI runs anywhere (agent/web/datalayer.py adapts it to Chainlit).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agent import api_keys
from agent.datalayer.db import format_ts, run_with_retries
from tools.store.sql import make_engine, utcnow
from agent.datalayer.errors import DataLayerError, UnknownUserError, UserExistsError
from agent.datalayer.migrate import migrate
from agent.datalayer.models import ROLES, User
from agent.errors import AgentError
from knowledge.cli import CommandLine, option

if TYPE_CHECKING:
    from agent.datalayer.store import ChatStore

log = logging.getLogger("agent.users")
T = TypeVar("T")
users = User.__table__
hasher = PasswordHasher()  # argon2id with the library's current recommended cost
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class UserRecord:
    id: str
    identifier: str
    display_name: str | None
    role: str
    created_at: str
    has_password: bool
    metadata: dict[str, Any] = field(default_factory=dict)


def normalize(identifier: str) -> str:
    return identifier.strip().lower()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")
    return hasher.hash(password)


@cache
def _dummy_hash() -> str:
    return hasher.hash(secrets.token_urlsafe(16))


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


@asynccontextmanager
async def _engine(db: str | ChatStore, schema: str) -> AsyncIterator[AsyncEngine]:
    if isinstance(db, str):
        engine = make_engine(db, schema)
        try:
            yield engine
        finally:
            await engine.dispose()
    else:
        yield db.engine  # the app's data layer: reuse its pool, do not close it


async def transaction(
    db: str | ChatStore, schema: str, operation: str, fn: Callable[[AsyncConnection], Awaitable[T]], retries: int
) -> T:
    async with _engine(db, schema) as engine:

        async def attempt() -> T:
            async with engine.begin() as conn:
                return await fn(conn)

        return await run_with_retries(operation, None, attempt, attempts=retries, wait_s=0.05)


async def create_user(
    db_url: str,
    identifier: str,
    password: str | None,
    role: str = "customer",
    display_name: str | None = None,
    *,
    schema: str = "",
    retries: int = 3,
) -> UserRecord:
    """Register a user; `password=None` makes an account that can only sign in another way (OAuth...)."""
    identifier = normalize(identifier)
    if not identifier:
        raise ValueError("identifier must not be empty")
    values = {
        "id": str(uuid.uuid4()), "identifier": identifier, "display_name": display_name, "role": _check_role(role),
        "password_hash": hash_password(password) if password is not None else None, "metadata": {},
        "created_at": utcnow(),
    }  # fmt: skip

    async def run(conn: AsyncConnection) -> None:
        if (await conn.execute(select(users.c.id).where(users.c.identifier == identifier))).first():
            raise UserExistsError(f"user {identifier} already exists; use set-password to change the password")
        try:
            await conn.execute(users.insert().values(values))
        except IntegrityError as exc:  # created concurrently between the check and the insert
            raise UserExistsError(f"user {identifier} already exists") from exc

    await transaction(db_url, schema, "create user", run, retries)
    return record_of(values)


async def set_password(db_url: str, identifier: str, password: str, *, schema: str = "", retries: int = 3) -> None:
    identifier, password_hash = normalize(identifier), hash_password(password)

    async def run(conn: AsyncConnection) -> None:
        result = await conn.execute(
            update(users).where(users.c.identifier == identifier).values(password_hash=password_hash)
        )
        if not result.rowcount:
            raise UnknownUserError(f"no user {identifier}")

    await transaction(db_url, schema, "set password", run, retries)


async def list_users(db_url: str, *, schema: str = "", retries: int = 3) -> list[UserRecord]:
    async def run(conn: AsyncConnection) -> list[UserRecord]:
        rows = await conn.execute(select(users).order_by(users.c.role, users.c.identifier))
        return [record_of(dict(r._mapping)) for r in rows]

    return await transaction(db_url, schema, "list users", run, retries)


async def verify(
    db_url_or_layer: str | ChatStore, identifier: str, password: str, *, schema: str = "", retries: int = 3
) -> UserRecord | None:
    """The user if the password is right, else None. Unknown users cost the same argon2 check."""
    identifier = normalize(identifier)

    async def run(conn: AsyncConnection) -> dict[str, Any] | None:
        row = (await conn.execute(select(users).where(users.c.identifier == identifier))).first()
        return dict(row._mapping) if row else None

    row = await transaction(db_url_or_layer, schema, "verify user", run, retries)
    stored = row["password_hash"] if row else None
    try:
        hasher.verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if stored is None:
        return None  # unknown user, or an account without a password (signs in another way)
    if hasher.check_needs_rehash(stored):
        await _rehash(db_url_or_layer, schema, identifier, password, retries)
    return record_of(row)


async def _rehash(db: str | ChatStore, schema: str, identifier: str, password: str, retries: int) -> None:
    # Upgrading the hash cost is an optimisation: a failure must not refuse a correct password.
    try:
        await _store_hash(db, identifier, hasher.hash(password), schema=schema, retries=retries)
    except DataLayerError as exc:
        log.warning("could not upgrade the password hash of %s: %s", identifier, exc)


async def _store_hash(db: str | ChatStore, identifier: str, password_hash: str, *, schema: str, retries: int) -> None:
    async def run(conn: AsyncConnection) -> None:
        await conn.execute(update(users).where(users.c.identifier == identifier).values(password_hash=password_hash))

    await transaction(db, schema, "rehash password", run, retries)


def record_of(row: dict[str, Any]) -> UserRecord:
    return UserRecord(
        id=row["id"],
        identifier=row["identifier"],
        display_name=row["display_name"],
        role=row["role"],
        created_at=format_ts(row["created_at"]) or "",
        has_password=bool(row["password_hash"]),
        metadata=dict(row.get("metadata") or {}),
    )


# --- CLI


def _read_password(given: str | None) -> str:
    if given is not None:
        return given
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first, second = getpass.getpass("Password: "), getpass.getpass("Repeat password: ")
    if first != second:
        raise ValueError("the passwords differ")
    return first


def _parser() -> CommandLine:
    from agent.settings import DatabaseSettings

    db = DatabaseSettings()
    cli = CommandLine("python -m agent.users", "Manage sign-in accounts.", [
        option("--database-url", default=db.url, help="default: DATABASE_URL"),
        option("--schema", default=db.schema_name, help="PostgreSQL schema; default: DATABASE_SCHEMA_NAME"),
    ])  # fmt: skip
    cli.set_defaults(retries=db.write_retries)
    add = cli.add_parser("add", help="create an account")
    add.add_argument("--identifier", required=True, help="sign-in name, usually an email address")
    add.add_argument("--role", choices=ROLES, default="customer")
    add.add_argument("--display-name")
    add.add_argument("--password", help="omit to be prompted (keeps it out of shell history)")
    cli.add_parser("list", help="list accounts")
    change = cli.add_parser("set-password", help="replace an account's password")
    change.add_argument("--identifier", required=True)
    change.add_argument("--password", help="omit to be prompted")
    key = cli.add_parser("api-key-create", help="a key for a server-to-server client of the HTTP API (shown once)")
    key.add_argument("--name", required=True, help="which client uses it, e.g. 'shop backend'")
    cli.add_parser("api-key-list", help="list API keys (never their secrets)")
    revoke = cli.add_parser("api-key-revoke", help="stop an API key from working")
    revoke.add_argument("--id", required=True, help="the key's id, as api-key-list shows it")
    return cli


async def _run(args: argparse.Namespace) -> None:
    url, schema, retries = args.database_url, args.schema, args.retries
    await migrate(url, schema)  # the CLI may be the first thing to touch a new database
    if args.command == "add":
        password = _read_password(args.password)
        user = await create_user(
            url, args.identifier, password, args.role, args.display_name, schema=schema, retries=retries
        )
        print(f"created {user.role} {user.identifier}")
    elif args.command.startswith("api-key-"):
        await _api_key_command(args, url, schema, retries)
    elif args.command == "set-password":
        await set_password(url, args.identifier, _read_password(args.password), schema=schema, retries=retries)
        print(f"password changed for {normalize(args.identifier)}")
    else:
        print("identifier\trole\tdisplay name\tcreated\tpassword")
        for user in await list_users(url, schema=schema, retries=retries):
            password = "yes" if user.has_password else "no"
            print(f"{user.identifier}\t{user.role}\t{user.display_name or ''}\t{user.created_at}\t{password}")


async def _api_key_command(args: argparse.Namespace, url: str, schema: str, retries: int) -> None:
    if args.command == "api-key-create":
        key = await transaction(url, schema, "create API key", lambda conn: api_keys.create(conn, args.name), retries)
        print(f"created API key for {args.name} (shown only now, keep it secret):\n{key}")
    elif args.command == "api-key-revoke":
        await transaction(url, schema, "revoke API key", lambda conn: api_keys.revoke(conn, args.id), retries)
        print(f"revoked API key {args.id}")
    else:
        print("id\tname\tcreated\trevoked")
        for row in await transaction(url, schema, "list API keys", api_keys.listed, retries):
            print(f"{row.id}\t{row.name}\t{row.created_at}\t{row.revoked_at or ''}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_run(args))
    except (AgentError, ValueError) as exc:  # DataLayerError, ConfigurationError, bad input
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
