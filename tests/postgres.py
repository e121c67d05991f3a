"""The local PostgreSQL for tests: a private schema per test session, dropped (CASCADE) at the end.

Only schemas this module named `t_<32 hex>` are ever dropped; nothing else in the
database is read or changed. Set TEST_POSTGRES_URL to use another server.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from agent.datalayer.migrate import migrate
from tests.conftest import require

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
_OURS = re.compile(r"^t_[0-9a-f]{32}$")
T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on its own loop in a worker thread, leaving pytest-asyncio's loops alone."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _probe(url: str) -> str | None:
    try:
        conn = await asyncpg.connect(dsn(url), timeout=5)
    except Exception as exc:  # any reason means "not usable here"
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def _drop(url: str, schema: str) -> None:
    if not _OURS.match(schema):
        raise ValueError(f"refusing to drop a schema the tests did not create: {schema!r}")
    conn = await asyncpg.connect(dsn(url), timeout=5)
    try:
        await conn.execute("SET lock_timeout = '10s'")  # a leaked connection must not hang the run
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def require_postgres(url: str = PG_URL) -> None:
    error = run_sync(_probe(url))
    require(error is None, f"PostgreSQL is not reachable at {url} ({error}); start it or set TEST_POSTGRES_URL")


@contextmanager
def private_schema(url: str = PG_URL) -> Iterator[str]:
    """A fresh schema name (not yet created) that is dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex}"
    try:
        yield schema
    finally:
        run_sync(_drop(url, schema))


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[tuple[str, str]]:
    """(url, schema) of a migrated private schema shared by this test session."""
    require_postgres()
    with private_schema() as schema:
        run_sync(migrate(PG_URL, schema))
        yield PG_URL, schema
