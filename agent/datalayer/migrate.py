"""Apply Alembic migrations programmatically, on start-up and from the CLIs.

Two histories use this: the chat history's (here) and the store's (tools/store/migrate.py), each
with its own script folder, version table and advisory lock, so they can share a database.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from agent.datalayer.db import check_target, make_engine

log = logging.getLogger("agent.datalayer")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant works; it only has to be the same for every instance of this app.
_ADVISORY_LOCK = 0x5EED_C4A7


async def migrate(url: str, schema: str = "") -> None:
    """Upgrade the chat history to the newest revision; safe on every start and from many instances."""
    await upgrade(url, schema, MIGRATIONS, _ADVISORY_LOCK, "database")


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
