"""The data-layer tests' fixtures: `layer`, a migrated SQLDataLayer on SQLite and on PostgreSQL, and helpers
that create a user, a thread and a message through it; `chat_store`, a migrated ChatStore in a database of its
own (a file on SQLite, a private schema on PostgreSQL), for tests that count every row.

A test module imports the fixtures it uses by name, with `no_database_env` (autouse) and, for `database` on
PostgreSQL, `pg_schema` from tests.postgres.
"""

from __future__ import annotations

import os
import uuid

import chainlit as cl
import pytest
from chainlit.utils import utc_now
from sqlalchemy import event

from agent.datalayer import migrate
from agent.datalayer.storage import LocalStorage
from agent.datalayer.store import ChatStore
from agent.web.datalayer import SQLDataLayer


@pytest.fixture(autouse=True)
def no_database_env(monkeypatch):
    # conftest clears the other setting groups; the developer's DATABASE_* must not leak in either.
    for name in [n for n in os.environ if n.startswith("DATABASE_")]:
        monkeypatch.delenv(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> tuple[str, str]:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", ""
    return request.getfixturevalue("pg_schema")


@pytest.fixture
def deleted_threads() -> list[str]:
    return []


@pytest.fixture
async def layer(database, tmp_path, deleted_threads):
    url, schema = database
    await migrate(url, schema)  # fresh on SQLite; on PostgreSQL a no-op re-run over the session schema

    async def on_thread_deleted(thread_id: str) -> None:
        deleted_threads.append(thread_id)

    data_layer = SQLDataLayer(
        url,
        LocalStorage(tmp_path / "files"),
        schema=schema,
        write_retries=3,
        retry_wait_s=0,
        on_thread_deleted=on_thread_deleted,
    )
    yield data_layer
    await data_layer.close()


async def new_user(layer: SQLDataLayer, name: str = "customer"):
    return await layer.create_user(cl.User(identifier=f"{name}-{uuid.uuid4().hex[:8]}@example.com"))


async def new_thread(layer: SQLDataLayer, user=None, name: str = "A question") -> str:
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, name=name, user_id=user.id if user else None)
    return thread_id


async def message(layer, thread_id, text, type="user_message"):
    step = {"id": str(uuid.uuid4()), "threadId": thread_id, "type": type, "name": "x", "output": text,
            "createdAt": utc_now(), "metadata": {}}  # fmt: skip
    await layer.create_step(step)
    return step


@pytest.fixture(params=["sqlite", "postgresql"])
async def chat_store(request, tmp_path):
    """A ChatStore alone in its database, migrated; closed before a PostgreSQL schema is dropped."""
    from tests.postgres import PG_URL, private_schema, require_postgres

    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
        await migrate(url)
        store = ChatStore(url, LocalStorage(tmp_path / "files"), retry_wait_s=0)
        yield store
        await store.close()
        return
    require_postgres()
    with private_schema() as schema:
        await migrate(PG_URL, schema)
        store = ChatStore(PG_URL, LocalStorage(tmp_path / "files"), schema=schema, retry_wait_s=0)
        try:
            yield store
        finally:
            await store.close()


def sql_seen(store) -> list[str]:
    """The SQL a store runs from now on, lower case (SQLite: its worker threads' engine; PostgreSQL: the async
    engine's)."""
    seen: list[str] = []
    engine = store.sqlite_file or store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", lambda _c, _k, statement, *_rest: seen.append(statement.lower()))
    return seen
