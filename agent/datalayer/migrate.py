"""Apply Alembic migrations programmatically, on start-up and from the CLIs.

Two histories use `tools.store.sql.upgrade`: the chat history's (here) and the store's (tools/store/migrate.py), each
with its own script folder, version table and advisory lock, so they can share a database.
"""

from __future__ import annotations

from pathlib import Path

from tools.store.sql import upgrade

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant works; it only has to be the same for every instance of this app.
_ADVISORY_LOCK = 0x5EED_C4A7


async def migrate(url: str, schema: str = "") -> None:
    """Upgrade the chat history to the newest revision; safe on every start and from many instances."""
    await upgrade(url, schema, MIGRATIONS, _ADVISORY_LOCK, "database")
