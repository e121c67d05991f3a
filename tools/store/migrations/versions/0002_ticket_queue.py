"""The escalation queue: tickets get an assignee and a last-change time, and a history of events.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# A frozen copy of models.TICKET_EVENT_KINDS: a migration must not change when the models do.
EVENT_KINDS = "kind IN ('created', 'assigned', 'status', 'note')"


def upgrade(schema: str | None = None) -> None:
    def ref(target: str) -> str:
        return f"{schema}.{target}" if schema else target

    op.add_column("store_tickets", sa.Column("assignee", sa.String(255)), schema=schema)
    op.add_column("store_tickets", sa.Column("updated_at", sa.DateTime), schema=schema)
    tickets = sa.table("store_tickets", sa.column("created_at"), sa.column("updated_at"), schema=schema)
    op.execute(tickets.update().values(updated_at=tickets.c.created_at))  # older tickets last changed when made
    # SQLite cannot make a column NOT NULL in place: batch mode copies the table (its named CHECK and indexes
    # with it); PostgreSQL gets a plain ALTER. Done before the events table points at store_tickets.
    with op.batch_alter_table("store_tickets", schema=schema) as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime, nullable=False)
    op.create_index("ix_store_tickets_assignee", "store_tickets", ["assignee"], schema=schema)

    op.create_table(
        "store_ticket_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id", sa.String(32), sa.ForeignKey(ref("store_tickets.id"), ondelete="CASCADE"), nullable=False
        ),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_value", sa.String(255)),
        sa.Column("to_value", sa.String(255)),
        sa.Column("note", sa.Text),
        sa.CheckConstraint(EVENT_KINDS, name="ck_store_ticket_events_kind"),
        schema=schema,
    )
    op.create_index("ix_store_ticket_events_ticket_id", "store_ticket_events", ["ticket_id"], schema=schema)


def downgrade(schema: str | None = None) -> None:
    op.drop_table("store_ticket_events", schema=schema)
    op.drop_index("ix_store_tickets_assignee", "store_tickets", schema=schema)
    with op.batch_alter_table("store_tickets", schema=schema) as batch:
        batch.drop_column("updated_at")
        batch.drop_column("assignee")
