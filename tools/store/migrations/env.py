"""Alembic environment, driven only by `tools.store.migrate.migrate_store()`.

It reuses the connection migrate_store() opened, so the upgrade runs inside its transaction and
PostgreSQL advisory lock.
"""

from __future__ import annotations

from alembic import context

from tools.store.migrate import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run store migrations with tools.store.migrate.migrate_store(url, schema), not the alembic CLI")

schema = context.config.attributes.get("schema") or None
context.configure(
    connection=connection,
    version_table=VERSION_TABLE,  # the chat history's migrations own `alembic_version`
    version_table_schema=schema,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations(schema=schema)
