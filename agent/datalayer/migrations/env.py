"""Alembic environment, driven only by `agent.datalayer.migrate.migrate()`.

It reuses the connection migrate() opened (config.attributes["connection"]) so
the upgrade runs inside migrate()'s transaction and PostgreSQL advisory lock.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with agent.datalayer.migrate.migrate(url, schema), not the alembic CLI")

schema = context.config.attributes.get("schema") or None
context.configure(
    connection=connection,
    version_table_schema=schema,  # the version table lives next to our tables
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations(schema=schema)
