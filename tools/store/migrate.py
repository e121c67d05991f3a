"""Apply the store's Alembic migrations, on start-up and from `python -m tools.store`.

The store may share a database (and schema) with the chat history, so it keeps its own version
table and its own advisory lock: the two histories never see each other's revisions.
"""

from __future__ import annotations

from pathlib import Path

from tools.store.sql import upgrade

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "store_alembic_version"
# Not the chat history's key: both may migrate at once, and neither should wait for the other.
_ADVISORY_LOCK = 0x5707_E5A1


async def migrate_store(url: str, schema: str = "") -> None:
    """Upgrade the store to the newest revision; safe to call on every start and from many instances."""
    await upgrade(url, schema, MIGRATIONS, _ADVISORY_LOCK, "store")
