"""Engine creation, retries and the few dialect differences (SQLite and PostgreSQL only)."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from agent.datalayer.errors import DataLayerError
from agent.errors import ConfigurationError

log = logging.getLogger("agent.datalayer")
T = TypeVar("T")
SUPPORTED = ("sqlite", "postgresql")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# PostgreSQL states worth retrying: serialization failure, deadlock, and the connection classes.
_TRANSIENT_SQLSTATES = ("40001", "40P01", "08", "57P01", "57P02", "57P03")


def check_target(url: str, schema: str) -> str:
    """Return the backend name, or raise ConfigurationError for an unsupported URL or bad schema."""
    backend = make_url(url).get_backend_name()
    if backend not in SUPPORTED:
        raise ConfigurationError(f"DATABASE_URL must be SQLite or PostgreSQL, not {backend!r}")
    if schema and backend != "postgresql":
        raise ConfigurationError("DATABASE_SCHEMA_NAME applies only to PostgreSQL; leave it empty for SQLite")
    if schema and not _SCHEMA_NAME.match(schema):
        raise ConfigurationError(f"DATABASE_SCHEMA_NAME {schema!r} is not a plain identifier")
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
    engine = create_async_engine(url, echo=echo, pool_pre_ping=True, execution_options=options)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked, per connection; WAL lets readers run during a write.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def insert(conn: AsyncConnection, table: Any) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_update` / `on_conflict_do_nothing` on both backends."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, (OperationalError, InterfaceError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or ""
        return str(state).startswith(_TRANSIENT_SQLSTATES)
    return False


async def run_with_retries(
    operation: str,
    thread_id: str | None,
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    wait_s: float,
) -> T:
    """Run `fn`, retrying transient database errors; anything left is logged and raised as DataLayerError."""

    where = f" for thread {thread_id}" if thread_id else ""

    def before_sleep(state: Any) -> None:
        log.warning(
            "%s%s failed (attempt %d of %d), retrying: %s",
            operation, where, state.attempt_number, attempts, state.outcome.exception(),
            extra={"thread_id": thread_id},
        )  # fmt: skip

    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=wait_s, max=max(wait_s * 8, wait_s)),
            retry=retry_if_exception(is_transient),
            before_sleep=before_sleep,
            reraise=True,
        ):
            with attempt:
                return await fn()
    except DataLayerError:
        raise  # already explained (ownership, bad key...), and never transient
    except Exception as exc:
        log.error("%s%s failed: %s: %s", operation, where, type(exc).__name__, exc, extra={"thread_id": thread_id})
        raise DataLayerError(f"{operation}{where} failed: {exc}", thread_id=thread_id) from exc
    raise AssertionError("unreachable: tenacity either returns or raises")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parse_ts(value: Any) -> datetime | None:
    """Chainlit timestamps are ISO strings ending in Z; stored as naive UTC so both backends sort alike."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def format_ts(value: datetime | None) -> str | None:
    # Exactly chainlit.utils.utc_now()'s format, so a stored timestamp reads back unchanged.
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat() + "Z"
