"""Store tables. Names start with `store_`, so the store can share a database with the chat history.

Lists keep τ-bench's order (a `position` column) because an order may hold the same item twice
and exports must round-trip. Money is Numeric(12, 2): cents, never binary floats.
Changing anything here needs a new migration in tools/store/migrations/versions/.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from tools.store.sql import PortableJSON

Money = Numeric(12, 2, asdecimal=True)

PAYMENT_SOURCES = ("credit_card", "gift_card", "paypal")
ORDER_STATUSES = (
    "pending", "pending (item modified)", "processed", "delivered", "cancelled",
    "return requested", "exchange requested",
)
TICKET_STATUSES = ("open", "pending", "solved")
# What a ticket's history records: its creation, (un)assignments, status moves and internal notes.
TICKET_EVENT_KINDS = ("created", "assigned", "status", "note")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    pass


class PostalAddress:
    """The address columns a customer (default address) and an order (shipping address) both have."""

    address1: Mapped[str] = mapped_column(String(255))
    address2: Mapped[str] = mapped_column(String(255), default="")
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(100))
    zip: Mapped[str] = mapped_column(String(20))


class Customer(PostalAddress, Base):
    __tablename__ = "store_customers"
    __table_args__ = (Index("ix_store_customers_name_zip", "last_name", "first_name", "zip"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # τ-bench user_id, e.g. noah_brown_6181
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255), unique=True)  # stored lower-case

    payment_methods: Mapped[list[PaymentMethod]] = relationship(
        back_populates="customer", order_by="PaymentMethod.position", cascade="all, delete-orphan"
    )
    orders: Mapped[list[Order]] = relationship(
        back_populates="customer", order_by="Order.position", cascade="all, delete-orphan"
    )


class PaymentMethod(Base):
    __tablename__ = "store_payment_methods"
    __table_args__ = (CheckConstraint(_in("source", PAYMENT_SOURCES), name="ck_store_payment_methods_source"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # e.g. gift_card_1725971
    customer_id: Mapped[str] = mapped_column(ForeignKey("store_customers.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    brand: Mapped[str | None] = mapped_column(String(32))  # credit cards
    last_four: Mapped[str | None] = mapped_column(String(4))  # credit cards
    balance: Mapped[Decimal | None] = mapped_column(Money)  # gift cards

    customer: Mapped[Customer] = relationship(back_populates="payment_methods")


class Product(Base):
    __tablename__ = "store_products"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # τ-bench product_id
    name: Mapped[str] = mapped_column(String(255), index=True)
    position: Mapped[int] = mapped_column(Integer)

    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", order_by="Variant.position", cascade="all, delete-orphan"
    )


class Variant(Base):
    __tablename__ = "store_variants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # τ-bench item_id
    product_id: Mapped[str] = mapped_column(ForeignKey("store_products.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    options: Mapped[dict[str, str]] = mapped_column(PortableJSON)
    price: Mapped[Decimal] = mapped_column(Money)
    available: Mapped[bool] = mapped_column(Boolean)

    product: Mapped[Product] = relationship(back_populates="variants")


class Order(PostalAddress, Base):
    __tablename__ = "store_orders"
    __table_args__ = (CheckConstraint(_in("status", ORDER_STATUSES), name="ck_store_orders_status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # e.g. #W2611340
    customer_id: Mapped[str] = mapped_column(ForeignKey("store_customers.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # place in the customer's order list (newest last)
    placed_at: Mapped[datetime | None] = mapped_column(DateTime)  # demo data has dates; τ-bench has none
    status: Mapped[str] = mapped_column(String(32))
    # Written by actions, NULL until then (an export leaves the key out, as τ-bench does).
    cancel_reason: Mapped[str | None] = mapped_column(String(64))
    return_items: Mapped[list[str] | None] = mapped_column(PortableJSON)
    return_payment_method_id: Mapped[str | None] = mapped_column(String(64))
    exchange_items: Mapped[list[str] | None] = mapped_column(PortableJSON)
    exchange_new_items: Mapped[list[str] | None] = mapped_column(PortableJSON)
    exchange_payment_method_id: Mapped[str | None] = mapped_column(String(64))
    exchange_price_difference: Mapped[Decimal | None] = mapped_column(Money)

    customer: Mapped[Customer] = relationship(back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship(
        order_by="OrderItem.position", cascade="all, delete-orphan", lazy="selectin"
    )
    fulfillments: Mapped[list[Fulfillment]] = relationship(
        order_by="Fulfillment.position", cascade="all, delete-orphan", lazy="selectin"
    )
    payments: Mapped[list[Payment]] = relationship(
        order_by="Payment.position", cascade="all, delete-orphan", lazy="selectin"
    )


class OrderItem(Base):
    """A line of an order; the price and options are the ones paid, whatever the catalogue says now."""

    __tablename__ = "store_order_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("store_orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[str] = mapped_column(String(32))  # no FK: a variant may leave the catalogue
    product_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    price: Mapped[Decimal] = mapped_column(Money)
    options: Mapped[dict[str, str]] = mapped_column(PortableJSON)


class Fulfillment(Base):
    __tablename__ = "store_fulfillments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("store_orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    tracking_ids: Mapped[list[str]] = mapped_column(PortableJSON)
    item_ids: Mapped[list[str]] = mapped_column(PortableJSON)


class Payment(Base):
    """One line of an order's payment history: a payment or a refund."""

    __tablename__ = "store_payments"
    __table_args__ = (
        CheckConstraint("transaction_type IN ('payment', 'refund')", name="ck_store_payments_type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("store_orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    transaction_type: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)
    payment_method_id: Mapped[str] = mapped_column(String(64))


class Ticket(Base):
    """A hand-over to a human colleague; support leads work these."""

    __tablename__ = "store_tickets"
    __table_args__ = (
        CheckConstraint(_in("status", TICKET_STATUSES), name="ck_store_tickets_status"),
        Index("ix_store_tickets_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # e.g. T-7F3K9Q2M
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("store_customers.id", ondelete="SET NULL"), index=True)
    conversation_id: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    reason: Mapped[str] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(Text)
    transcript_url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Who works it: a staff member's sign-in identifier (the chat history's users table, another database
    # maybe, hence no foreign key); NULL while unassigned.
    assignee: Mapped[str | None] = mapped_column(String(255), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)  # the latest change of any kind, notes included


class TicketEvent(Base):
    """One line of a ticket's history: who did what, when. Rows are only ever added."""

    __tablename__ = "store_ticket_events"
    __table_args__ = (CheckConstraint(_in("kind", TICKET_EVENT_KINDS), name="ck_store_ticket_events_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # also the order of events
    ticket_id: Mapped[str] = mapped_column(ForeignKey("store_tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(255))  # a staff identifier, or "assistant" for the hand-over tool
    kind: Mapped[str] = mapped_column(String(16))
    from_value: Mapped[str | None] = mapped_column(String(255))  # status or assignee before (NULL: none)
    to_value: Mapped[str | None] = mapped_column(String(255))  # status or assignee after (NULL: unassigned)
    note: Mapped[str | None] = mapped_column(Text)  # the internal note (kind "note")


class AppliedAction(Base):
    """A confirmed write, once applied: retrying its confirmation token returns this, never a second write."""

    __tablename__ = "store_applied_actions"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    tool: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    arguments: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    result: Mapped[dict[str, Any]] = mapped_column(PortableJSON)
    applied_at: Mapped[datetime] = mapped_column(DateTime)
