"""Live hand-over: who holds a conversation (handovers), notifications for absent customers (outbox), and the
facts' two hand-over times; and the HTTP API's server-to-server keys (api_keys).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade(schema: str | None = None) -> None:
    threads = f"{schema}.threads.id" if schema else "threads.id"
    with op.batch_alter_table("conversation_facts", schema=schema) as batch:
        batch.add_column(sa.Column("human_pickup_ms", sa.Integer))
        batch.add_column(sa.Column("human_first_reply_ms", sa.Integer))
    op.create_table(
        "handovers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("thread_id", sa.String(255), sa.ForeignKey(threads, ondelete="CASCADE"), nullable=False),
        sa.Column("ticket_id", sa.String(32), nullable=False),
        sa.Column("staff", sa.String(255), nullable=False),
        sa.Column("staff_name", sa.String(255), nullable=False),
        sa.Column("escalated_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("first_reply_at", sa.DateTime),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("end_reason", sa.String(16)),
        schema=schema,
    )
    live = sa.text("ended_at IS NULL")
    op.create_index("ux_handovers_live", "handovers", ["thread_id"], unique=True, schema=schema,
                    sqlite_where=live, postgresql_where=live)
    op.create_index("ix_handovers_started", "handovers", ["started_at"], schema=schema)
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("thread_id", sa.String(255), nullable=False),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("sent_at", sa.DateTime),
        schema=schema,
    )
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "id"], schema=schema)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
        schema=schema,
    )


def downgrade(schema: str | None = None) -> None:
    op.drop_table("api_keys", schema=schema)
    op.drop_table("outbox", schema=schema)
    op.drop_table("handovers", schema=schema)
    with op.batch_alter_table("conversation_facts", schema=schema) as batch:
        batch.drop_column("human_first_reply_ms")
        batch.drop_column("human_pickup_ms")
