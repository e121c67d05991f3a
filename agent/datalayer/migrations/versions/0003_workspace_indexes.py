"""Indexes the workspace needs at 100,000 conversations (bench/bench_workspace.py measures them).

- ix_threads_created (created_at, id): the conversation list is newest first with a keyset cursor on these two
  columns; without it every page (and every filter) sorts all threads.
- ix_steps_output_trgm, PostgreSQL only: a pg_trgm GIN index on the steps' text, which `output ILIKE '%word%'`
  (the list's search) uses, so a search that matches few conversations reads a handful of rows instead of every
  step. It needs the pg_trgm extension: created here if missing (a trusted extension: a database owner may).
  When it cannot be created (not installed on the server, no privilege) the index is skipped with a warning and
  search still works, scanning the steps. Building it takes about 10 s per million steps, during which writes to
  `steps` wait: upgrade a large database outside busy hours.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)


def upgrade(schema: str | None = None) -> None:
    op.create_index("ix_threads_created", "threads", ["created_at", "id"], schema=schema)
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        with bind.begin_nested():  # a savepoint: a refusal must not abort the rest of the upgrade
            # Into the default schema (public), never the app's own: dropping an app schema must not drop the
            # extension other schemas' indexes depend on.
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            op.create_index(
                "ix_steps_output_trgm", "steps", [sa.literal_column("output")], schema=schema,
                postgresql_using="gin", postgresql_ops={"output": "gin_trgm_ops"},
            )  # fmt: skip
    except DBAPIError as exc:
        log.warning("pg_trgm is not available (%s); conversation search will scan the steps without an index",
                    str(exc.orig).strip().splitlines()[0] if exc.orig else exc)  # fmt: skip


def downgrade(schema: str | None = None) -> None:
    prefix = f'"{schema}".' if schema else ""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {prefix}ix_steps_output_trgm")
    op.drop_index("ix_threads_created", "threads", schema=schema)
