"""Initial tables: users, threads, steps, elements, feedbacks.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copy of the types in models.py: a migration must not change when the models do.
JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade(schema: str | None = None) -> None:
    def ref(target: str) -> str:
        return f"{schema}.{target}" if schema else target

    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("identifier", sa.String(255), nullable=False),
        sa.Column("display_name", sa.String(255)),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.CheckConstraint("role IN ('customer', 'lead', 'admin')", name="ck_users_role"),
        sa.UniqueConstraint("identifier", name="uq_users_identifier"),
        schema=schema,
    )
    op.create_table(
        "threads",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("user_id", sa.String(36), sa.ForeignKey(ref("users.id"), ondelete="SET NULL")),
        sa.Column("name", sa.Text),
        sa.Column("tags", JSON),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        schema=schema,
    )
    op.create_index("ix_threads_user_created", "threads", ["user_id", "created_at", "id"], schema=schema)
    op.create_table(
        "steps",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column(
            "thread_id", sa.String(255), sa.ForeignKey(ref("threads.id"), ondelete="CASCADE"), nullable=False
        ),
        sa.Column("parent_id", sa.String(255)),
        sa.Column("name", sa.Text),
        sa.Column("type", sa.String(64)),
        sa.Column("input", sa.Text),
        sa.Column("output", sa.Text),
        sa.Column("is_error", sa.Boolean),
        sa.Column("streaming", sa.Boolean),
        sa.Column("wait_for_answer", sa.Boolean),
        sa.Column("default_open", sa.Boolean),
        sa.Column("auto_collapse", sa.Boolean),
        sa.Column("show_input", JSON),
        sa.Column("language", sa.String(64)),
        sa.Column("icon", sa.Text),
        sa.Column("command", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("start_at", sa.DateTime),
        sa.Column("end_at", sa.DateTime),
        sa.Column("metadata", JSON),
        sa.Column("tags", JSON),
        sa.Column("modes", JSON),
        sa.Column("generation", JSON),
        sa.Column("extra", JSON),
        schema=schema,
    )
    op.create_index("ix_steps_thread_created", "steps", ["thread_id", "created_at"], schema=schema)
    op.create_table(
        "elements",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column(
            "thread_id", sa.String(255), sa.ForeignKey(ref("threads.id"), ondelete="CASCADE"), nullable=False
        ),
        sa.Column("for_id", sa.String(255)),
        sa.Column("type", sa.String(32)),
        sa.Column("name", sa.Text),
        sa.Column("mime", sa.String(255)),
        sa.Column("display", sa.String(16)),
        sa.Column("size", sa.String(16)),
        sa.Column("language", sa.String(64)),
        sa.Column("page", sa.Integer),
        sa.Column("auto_play", sa.Boolean),
        sa.Column("player_config", JSON),
        sa.Column("props", JSON),
        sa.Column("url", sa.Text),
        sa.Column("object_key", sa.Text),
        sa.Column("chainlit_key", sa.String(255)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        schema=schema,
    )
    op.create_index("ix_elements_thread_id", "elements", ["thread_id"], schema=schema)
    op.create_index("ix_elements_for_id", "elements", ["for_id"], schema=schema)
    op.create_table(
        "feedbacks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("for_id", sa.String(255), nullable=False),
        sa.Column("thread_id", sa.String(255)),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("for_id", name="uq_feedbacks_for_id"),
        schema=schema,
    )
    op.create_index("ix_feedbacks_thread_id", "feedbacks", ["thread_id"], schema=schema)


def downgrade(schema: str | None = None) -> None:
    for table in ("feedbacks", "elements", "steps", "threads", "users"):
        op.drop_table(table, schema=schema)
