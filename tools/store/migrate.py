"""Apply the store's Alembic migrations programmatically, on start-up and from `python -m tools.store`.

The store may share a database (and schema) with the chat history, so it keeps its own version
table and its own advisory lock: the two histories never see each other's revisions.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from agent.datalayer.db import check_target, make_engine

log = logging.getLogger("tools.store")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "store_alembic_version"
# Not the chat history's key: both may migrate at once, and neither should wait for the other.
_ADVISORY_LOCK = 0x5707_E5A1


async def migrate_store(url: str, schema: str = "") -> None:
    """Upgrade the store to the newest revision; safe to call on every start and from many instances."""
    check_target(url, schema)
    # No schema_translate_map: the migration names the schema itself, version table included.
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Instances starting together wait for each other instead of racing CREATE TABLE.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
                if schema:
                    quoted = conn.dialect.identifier_preparer.quote_schema(schema)
                    await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
            await conn.run_sync(_upgrade, schema)
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, schema: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["schema"] = schema
    command.upgrade(config, "head")
    log.info("store schema %s is at the newest revision", schema or "(default)")
