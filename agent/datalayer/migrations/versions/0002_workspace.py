"""The workspace's records: conversation facts, their intents and tools, content gaps, transcript views.

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


def upgrade(schema: str | None = None) -> None:
    def ref(target: str) -> str:
        return f"{schema}.{target}" if schema else target

    op.create_table(
        "conversation_facts",
        sa.Column(
            "thread_id", sa.String(255), sa.ForeignKey(ref("threads.id"), ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("user_id", sa.String(36)),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("last_customer_at", sa.DateTime),
        sa.Column("last_answer_at", sa.DateTime),
        sa.Column("first_response_ms", sa.Integer),
        *(sa.Column(name, sa.Integer, nullable=False) for name in (
            "turns", "errors", "knowledge_misses", "cards_shown", "cards_confirmed", "cards_declined",
            "cards_expired",
        )),
        sa.Column("ticket_id", sa.String(32)),
        sa.Column("ticket_status", sa.String(16)),
        sa.Column("last_rating", sa.Integer),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.CheckConstraint("outcome IN ('answered', 'unanswered', 'escalated', 'error')", name="ck_facts_outcome"),
        schema=schema,
    )
    op.create_index("ix_facts_started", "conversation_facts", ["started_at", "thread_id"], schema=schema)
    op.create_index("ix_facts_ticket_status", "conversation_facts", ["ticket_status"], schema=schema)
    op.create_index("ix_facts_user", "conversation_facts", ["user_id"], schema=schema)
    facts = ref("conversation_facts.thread_id")
    op.create_table(
        "conversation_fact_items",
        sa.Column("thread_id", sa.String(255), sa.ForeignKey(facts, ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("uses", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.CheckConstraint("kind IN ('intent', 'tool')", name="ck_fact_items_kind"),
        schema=schema,
    )
    op.create_index("ix_fact_items_kind_name", "conversation_fact_items", ["kind", "name", "thread_id"],
                    schema=schema)
    op.create_table(
        "content_gaps",
        sa.Column("thread_id", sa.String(255), sa.ForeignKey(facts, ondelete="CASCADE"), primary_key=True),
        sa.Column("step_id", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("asked_at", sa.DateTime, nullable=False),
        sa.Column("embedding", sa.LargeBinary),
        sa.CheckConstraint("kind IN ('missed', 'rated_down', 'handed_over')", name="ck_content_gaps_kind"),
        schema=schema,
    )
    op.create_index("ix_content_gaps_asked", "content_gaps", ["asked_at"], schema=schema)
    op.create_table(
        "transcript_views",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("thread_id", sa.String(255), nullable=False),
        sa.Column("viewer", sa.String(255), nullable=False),
        sa.Column("viewed_at", sa.DateTime, nullable=False),
        schema=schema,
    )
    op.create_index("ix_transcript_views_thread", "transcript_views", ["thread_id", "viewed_at"], schema=schema)


def downgrade(schema: str | None = None) -> None:
    for table in ("transcript_views", "content_gaps", "conversation_fact_items", "conversation_facts"):
        op.drop_table(table, schema=schema)
