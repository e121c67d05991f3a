"""SQL plumbing shared by the shop store and the chat history: engines, dialects, retries, migrations.

SQLite and PostgreSQL only. Both databases (often the same one) are reached through here, so their
dialect handling, transient-error rules and migration locking stay the same.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, Engine, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tools.errors import StoreConfigurationError

log = logging.getLogger(__name__)
SUPPORTED = ("sqlite", "postgresql")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# PostgreSQL states worth retrying: serialization failure, deadlock, and the connection classes.
_TRANSIENT_SQLSTATES = ("40001", "40P01", "08", "57P01", "57P02", "57P03")
# JSONB on PostgreSQL compares and indexes properly; plain JSON (text) on SQLite.
PortableJSON = JSON().with_variant(JSONB(), "postgresql")


def check_target(url: str, schema: str) -> str:
    """Return the backend name, or raise StoreConfigurationError for an unsupported URL or bad schema."""
    backend = make_url(url).get_backend_name()
    if backend not in SUPPORTED:
        raise StoreConfigurationError(f"DATABASE_URL must be SQLite or PostgreSQL, not {backend!r}")
    if schema and backend != "postgresql":
        raise StoreConfigurationError("DATABASE_SCHEMA_NAME applies only to PostgreSQL; leave it empty for SQLite")
    if schema and not _SCHEMA_NAME.match(schema):
        raise StoreConfigurationError(f"DATABASE_SCHEMA_NAME {schema!r} is not a plain identifier")
    return backend


def make_engine(url: str, schema: str = "", echo: bool = False) -> AsyncEngine:
    backend = check_target(url, schema)
    options: dict[str, Any] = {}
    if schema:
        # Unqualified tables in models and queries land in `schema` on every connection of this engine.
        options["schema_translate_map"] = {None: schema}
    if backend == "sqlite":
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    # A PostgreSQL connection may have died with its server since it was pooled; a SQLite file cannot go away
    # under its connection, and the ping would cost a round trip through aiosqlite's thread per checkout.
    engine = create_async_engine(url, echo=echo, pool_pre_ping=backend != "sqlite", execution_options=options)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine.sync_engine, "connect", _postgres_settings)
    return engine


def make_sqlite_file_engine(url: Any, echo: bool = False, connections: int = 8) -> Engine | None:
    """A synchronous engine on the same SQLite file, for transactions run whole in one worker thread; None for
    PostgreSQL and in-memory databases (a second engine would open a second, empty database).

    Through aiosqlite every statement is several round trips between its thread and the event loop, each one
    waiting its turn on a loop busy with a hundred chats, and SQLite's one write lock is held across all of
    them while every other writer sleeps in the busy handler."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    # One kept connection per worker thread: a connection opened past the pool's size would be closed after use,
    # and each new one runs the pragmas (journal_mode=WAL among them) again.
    engine = create_engine(parsed.set(drivername="sqlite+pysqlite"), echo=echo, pool_size=connections,
                           max_overflow=0, connect_args={"check_same_thread": False})  # any worker thread may use it
    event.listen(engine, "connect", _sqlite_pragmas)
    # pysqlite opens transactions itself, late, and its SAVEPOINT handling breaks a transaction's atomicity: it is
    # told to stay out (autocommit), and each transaction says BEGIN (SQLAlchemy's documented recipe), so the
    # savepoints a shared write transaction gives each of its writes work.
    event.listen(engine, "connect", _pysqlite_autocommit)
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
    return engine


def _pysqlite_autocommit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _postgres_settings(dbapi_connection: Any, _record: Any) -> None:
    # Statements are prepared and cached per connection; after five runs PostgreSQL may switch to a generic plan,
    # chosen without the parameters' values. For the workspace's filtered, LIMITed lists that plan walks every
    # conversation (a search matching nothing: 2 s instead of 3 ms at 100,000 conversations): always plan with
    # the values. JIT compiles any plan the planner over-estimates, ~0.4 s each time, for queries taking 40 ms.
    # bench/bench_workspace.py measures both.
    cursor = dbapi_connection.cursor()
    cursor.execute("SET plan_cache_mode = force_custom_plan")
    cursor.execute("SET jit = off")
    cursor.close()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked, per connection; WAL lets readers run during a write. In WAL mode,
    # synchronous=NORMAL syncs at checkpoints instead of on every commit: a crash of the app loses nothing, a power
    # cut may lose the last commits (SQLite is the single-machine default; production runs PostgreSQL). Under 100
    # chats the per-commit sync made writers queue on the file (bench/bench_load.py: 7.9 -> 9.2 turns/s).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def insert(conn: AsyncConnection, table: Any) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_update` / `on_conflict_do_nothing` on both backends."""
    return dialect_insert(conn.dialect.name, table)


def dialect_insert(dialect: str, table: Any) -> Any:
    """`insert` by the dialect's name, for a statement built once and kept."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (OperationalError, InterfaceError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or ""
        return str(state).startswith(_TRANSIENT_SQLSTATES)
    return False


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


async def upgrade(url: str, schema: str, scripts: Path, lock_key: int, label: str) -> None:
    """Run the Alembic scripts in `scripts` to head, under a PostgreSQL advisory lock `lock_key`."""
    check_target(url, schema)
    # No schema_translate_map here: the migration names the schema itself, version table included.
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Instances starting together wait for each other instead of racing CREATE TABLE.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
                if schema:
                    quoted = conn.dialect.identifier_preparer.quote_schema(schema)
                    await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
            await conn.run_sync(_upgrade, scripts, schema)
    finally:
        await engine.dispose()
    log.info("%s schema %s is at the newest revision", label, schema or "(default)")


def _upgrade(connection: Connection, scripts: Path, schema: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(scripts))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.upgrade(config, "head")
