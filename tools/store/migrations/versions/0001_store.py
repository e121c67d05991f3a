"""Store tables: customers, payment methods, products, variants, orders and their lines, tickets, applied actions.

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

# Frozen copies of the types and value lists in models.py: a migration must not change when the models do.
JSON = sa.JSON().with_variant(JSONB(), "postgresql")
MONEY = sa.Numeric(12, 2)
PAYMENT_SOURCES = "source IN ('credit_card', 'gift_card', 'paypal')"
ORDER_STATUSES = (
    "status IN ('pending', 'pending (item modified)', 'processed', 'delivered', 'cancelled', "
    "'return requested', 'exchange requested')"
)
TICKET_STATUSES = "status IN ('open', 'pending', 'solved')"


def upgrade(schema: str | None = None) -> None:
    def ref(target: str) -> str:
        return f"{schema}.{target}" if schema else target

    def address() -> list[sa.Column]:
        return [
            sa.Column("address1", sa.String(255), nullable=False),
            sa.Column("address2", sa.String(255), nullable=False),
            sa.Column("city", sa.String(100), nullable=False),
            sa.Column("state", sa.String(100), nullable=False),
            sa.Column("country", sa.String(100), nullable=False),
            sa.Column("zip", sa.String(20), nullable=False),
        ]

    def index(table: str, column: str) -> None:
        op.create_index(f"ix_{table}_{column}", table, [column], schema=schema)

    op.create_table(
        "store_customers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        *address(),
        sa.UniqueConstraint("email", name="uq_store_customers_email"),
        schema=schema,
    )
    op.create_index(
        "ix_store_customers_name_zip", "store_customers", ["last_name", "first_name", "zip"], schema=schema
    )

    def owned(table: str, parent: str, parent_id: sa.types.TypeEngine, id_: sa.Column, *columns: object) -> None:
        """Rows that belong to a parent row (deleted with it) and keep their place in its list."""
        op.create_table(
            table,
            id_,
            sa.Column(
                f"{parent}_id", parent_id, sa.ForeignKey(ref(f"store_{parent}s.id"), ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column("position", sa.Integer, nullable=False),
            *columns,
            schema=schema,
        )
        index(table, f"{parent}_id")

    owned(
        "store_payment_methods", "customer", sa.String(64), sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("brand", sa.String(32)),
        sa.Column("last_four", sa.String(4)),
        sa.Column("balance", MONEY),
        sa.CheckConstraint(PAYMENT_SOURCES, name="ck_store_payment_methods_source"),
    )

    op.create_table(
        "store_products",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        schema=schema,
    )
    index("store_products", "name")
    owned(
        "store_variants", "product", sa.String(32), sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("options", JSON, nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("available", sa.Boolean, nullable=False),
    )

    owned(
        "store_orders", "customer", sa.String(64), sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("placed_at", sa.DateTime),
        sa.Column("status", sa.String(32), nullable=False),
        *address(),
        sa.Column("cancel_reason", sa.String(64)),
        sa.Column("return_items", JSON),
        sa.Column("return_payment_method_id", sa.String(64)),
        sa.Column("exchange_items", JSON),
        sa.Column("exchange_new_items", JSON),
        sa.Column("exchange_payment_method_id", sa.String(64)),
        sa.Column("exchange_price_difference", MONEY),
        sa.CheckConstraint(ORDER_STATUSES, name="ck_store_orders_status"),
    )

    def order_lines(table: str, *columns: object) -> None:
        line_id = sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)
        owned(table, "order", sa.String(32), line_id, *columns)

    order_lines(
        "store_order_items",
        sa.Column("item_id", sa.String(32), nullable=False),
        sa.Column("product_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("options", JSON, nullable=False),
    )
    order_lines(
        "store_fulfillments",
        sa.Column("tracking_ids", JSON, nullable=False),
        sa.Column("item_ids", JSON, nullable=False),
    )
    order_lines(
        "store_payments",
        sa.Column("transaction_type", sa.String(16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("payment_method_id", sa.String(64), nullable=False),
        sa.CheckConstraint("transaction_type IN ('payment', 'refund')", name="ck_store_payments_type"),
    )

    op.create_table(
        "store_tickets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("customer_id", sa.String(64), sa.ForeignKey(ref("store_customers.id"), ondelete="SET NULL")),
        sa.Column("conversation_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(255), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("transcript_url", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.CheckConstraint(TICKET_STATUSES, name="ck_store_tickets_status"),
        schema=schema,
    )
    index("store_tickets", "customer_id")
    index("store_tickets", "conversation_id")
    op.create_index("ix_store_tickets_status_created", "store_tickets", ["status", "created_at"], schema=schema)

    op.create_table(
        "store_applied_actions",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64)),
        sa.Column("arguments", JSON, nullable=False),
        sa.Column("result", JSON, nullable=False),
        sa.Column("applied_at", sa.DateTime, nullable=False),
        schema=schema,
    )


def downgrade(schema: str | None = None) -> None:
    for table in (
        "store_applied_actions", "store_tickets", "store_payments", "store_fulfillments", "store_order_items",
        "store_orders", "store_variants", "store_products", "store_payment_methods", "store_customers",
    ):  # fmt: skip
        op.drop_table(table, schema=schema)
