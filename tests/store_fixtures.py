"""A small hand-made store for the business-tool tests, a snapshot of every store table, and the `shop`
(SQLite) and `any_shop` (SQLite and PostgreSQL) fixtures: import both names into a test module to use them.

Dana has one order in each state the rules care about; Omar is the "other customer" whose records
must read as missing; two Sam Lees share a name and zip; Zoë Ågren has an accented name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from agent.models.scripted import tool_call
from agent.settings import Settings, ToolSettings
from tests.postgres import PG_URL, private_schema, require_postgres
from tools.base import ToolContext, ToolResult
from tools.catalog import store_tools
from tools.registry import ToolRegistry

from tools.store import shapes
from tools.store.db import StoreDatabase
from tools.store.migrate import migrate_store
from tools.store.models import (
    Base, Customer, Fulfillment, Order, OrderItem, Payment, PaymentMethod, Product, Variant,
)  # fmt: skip

DANA, OMAR = "dana_whitfield_1001", "omar_reyes_2002"
GIFT, CARD, PAYPAL, LOW_GIFT = "gift_card_1001001", "credit_card_1001002", "paypal_1001003", "gift_card_1001004"
OMAR_GIFT = "gift_card_2002001"
FAST = ToolSettings(retry_backoff_s=0)
HEADPHONES, KEYBOARD, SHIRT = "1000000001", "1000000002", "1000000003"
BLACK_WIRELESS, WHITE_WIRELESS, RED_WIRED, BLUE_WIRED = "2000000001", "2000000002", "2000000003", "2000000004"
LINEAR, TACTILE, CLICKY = "2100000001", "2100000002", "2100000003"
BLUE_M, BLUE_L, RED_M = "2200000001", "2200000002", "2200000003"
NOWHERE = "#W9999999"
ADDRESS = {"address1": "1 Congress Ave", "address2": "Suite 5", "city": "Austin", "state": "TX", "country": "USA",
           "zip": "78701"}  # fmt: skip

PRODUCTS = {
    HEADPHONES: ("Headphones", {
        BLACK_WIRELESS: ({"color": "black", "connectivity": "wireless"}, "99.99", True),
        WHITE_WIRELESS: ({"color": "white", "connectivity": "wireless"}, "109.99", True),
        RED_WIRED: ({"color": "red", "connectivity": "wired"}, "79.99", False),
        BLUE_WIRED: ({"color": "blue", "connectivity": "wired"}, "54.99", True),
    }),
    KEYBOARD: ("Mechanical Keyboard", {
        LINEAR: ({"switch type": "linear", "layout": "full size"}, "129.99", True),
        TACTILE: ({"switch type": "tactile", "layout": "full size"}, "139.49", True),
        CLICKY: ({"switch type": "clicky", "layout": "80%"}, "119.00", False),
    }),
    SHIRT: ("T-Shirt", {
        BLUE_M: ({"color": "blue", "size": "M"}, "19.99", True),
        BLUE_L: ({"color": "blue", "size": "L"}, "21.49", True),
        RED_M: ({"color": "red", "size": "M"}, "19.99", True),
    }),
}  # fmt: skip
VARIANTS = {item: (product, *spec) for product, (_, variants) in PRODUCTS.items() for item, spec in variants.items()}

# order id: (customer, status, day in November 2026, items, payments, fulfilled, extra columns)
ORDERS: dict[str, tuple[str, str, int, list[str], list[tuple[str, str, str]], bool, dict[str, Any]]] = {
    "#W1001001": (DANA, "delivered", 1, [BLACK_WIRELESS, LINEAR, BLUE_M, BLUE_M],
                  [("payment", "269.96", CARD)], True, {}),
    "#W1001002": (DANA, "processed", 5, [RED_M], [("payment", "19.99", PAYPAL)], True, {}),
    "#W1001003": (DANA, "pending", 20, [BLUE_WIRED], [("payment", "54.99", GIFT)], False, {}),
    "#W1001004": (DANA, "pending", 21, [BLUE_M, BLUE_M, TACTILE], [("payment", "179.47", CARD)], False, {}),
    "#W1001005": (DANA, "pending (item modified)", 22, [BLUE_L],
                  [("payment", "19.99", CARD), ("payment", "1.50", CARD)], False, {}),
    "#W1001006": (DANA, "cancelled", 2, [RED_M], [("payment", "19.99", GIFT), ("refund", "19.99", GIFT)], False,
                  {"cancel_reason": "no longer needed"}),
    "#W1001007": (DANA, "pending", 23, [LINEAR], [("payment", "10.00", LOW_GIFT), ("payment", "119.99", CARD)],
                  False, {}),
    "#W1001008": (DANA, "return requested", 3, [WHITE_WIRELESS, BLUE_M], [("payment", "129.98", CARD)], True,
                  {"return_items": [WHITE_WIRELESS], "return_payment_method_id": GIFT}),
    "#W1001009": (DANA, "exchange requested", 4, [BLUE_M], [("payment", "19.99", CARD)], True,
                  {"exchange_items": [BLUE_M], "exchange_new_items": [BLUE_L], "exchange_payment_method_id": CARD,
                   "exchange_price_difference": Decimal("1.50")}),
    "#W1001010": (DANA, "pending", 24, [RED_M], [("payment", "19.99", PAYPAL)], False, {}),
    "#W2002001": (OMAR, "pending", 10, [BLACK_WIRELESS], [("payment", "99.99", OMAR_GIFT)], False, {}),
    "#W2002002": (OMAR, "delivered", 6, [BLUE_M], [("payment", "19.99", OMAR_GIFT)], True, {}),
}  # fmt: skip


def _customer(user_id: str, first: str, last: str, email: str, zip_code: str, methods: list[PaymentMethod]) -> Customer:
    return Customer(
        id=user_id, first_name=first, last_name=last, email=email, address1="12 Larkspur Lane", address2="",
        city="New York", state="NY", country="USA", zip=zip_code, payment_methods=methods,
    )  # fmt: skip


def _gift(pm_id: str, position: int, balance: str) -> PaymentMethod:
    return PaymentMethod(id=pm_id, position=position, source="gift_card", balance=Decimal(balance))


def customers() -> list[Customer]:
    return [
        _customer(DANA, "Dana", "Whitfield", "dana@example.com", "10001", [
            _gift(GIFT, 0, "150.00"),
            PaymentMethod(id=CARD, position=1, source="credit_card", brand="visa", last_four="4242"),
            PaymentMethod(id=PAYPAL, position=2, source="paypal"),
            _gift(LOW_GIFT, 3, "1.00"),
        ]),
        _customer(OMAR, "Omar", "Reyes", "omar@example.com", "10001", [
            _gift(OMAR_GIFT, 0, "500.00"),
            PaymentMethod(id="credit_card_2002002", position=1, source="credit_card", brand="mastercard",
                          last_four="1111"),
        ]),
        _customer("sam_lee_3003", "Sam", "Lee", "sam1@example.com", "94110", []),
        _customer("sam_lee_3004", "Sam", "Lee", "sam2@example.com", "94110", []),
        _customer("zoe_agren_4005", "Zoë", "Ågren", "zoe@example.com", "73301", []),
    ]  # fmt: skip


def _order(order_id: str, position: int) -> Order:
    owner, status, day, items, payments, fulfilled, extra = ORDERS[order_id]
    lines = []
    for n, item_id in enumerate(items):
        product_id, options, price, _ = VARIANTS[item_id]
        lines.append(OrderItem(position=n, item_id=item_id, product_id=product_id, name=PRODUCTS[product_id][0],
                               price=Decimal(price), options=options))  # fmt: skip
    return Order(
        id=order_id, customer_id=owner, position=position, placed_at=datetime(2026, 11, day, 12), status=status,
        address1="12 Larkspur Lane", address2="", city="New York", state="NY", country="USA", zip="10001",
        items=lines,
        payments=[Payment(position=n, transaction_type=t, amount=Decimal(a), payment_method_id=m)
                  for n, (t, a, m) in enumerate(payments)],
        fulfillments=[Fulfillment(position=0, tracking_ids=[f"TRK{order_id[2:]}"], item_ids=list(items))]
        if fulfilled else [],
        **extra,
    )  # fmt: skip


async def build_store(db: StoreDatabase) -> None:
    await migrate_store(db.url, db.schema)  # the real migrations: the tools must work on what they create
    async with db.session() as session:
        for n, (product_id, (name, variants)) in enumerate(PRODUCTS.items()):
            session.add(Product(id=product_id, name=name, position=n, variants=[
                Variant(id=item, position=k, options=options, price=Decimal(price), available=available)
                for k, (item, (options, price, available)) in enumerate(variants.items())
            ]))  # fmt: skip
        session.add_all(customers())
        await session.flush()
        for position, order_id in enumerate(ORDERS):
            session.add(_order(order_id, position))


async def snapshot(db: StoreDatabase) -> dict[str, list[str]]:
    """Every row of every store table, for "nothing changed" comparisons."""
    tables: dict[str, list[str]] = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            tables[table.name] = sorted(repr(tuple(row)) for row in rows)
    return tables


async def order_doc(db: StoreDatabase, order_id: str) -> dict[str, Any]:
    async with db.read() as session:
        return shapes.order(await session.get_one(Order, order_id))


async def balance(db: StoreDatabase, payment_method_id: str) -> Decimal | None:
    async with db.read() as session:
        return (await session.get_one(PaymentMethod, payment_method_id)).balance


async def count(db: StoreDatabase, table: type[Base]) -> int:
    async with db.read() as session:
        return len((await session.scalars(select(table))).all())


class Shop:
    """The store tools of one database, called as a given customer."""

    def __init__(self, db: StoreDatabase) -> None:
        self.db = db
        self.settings = Settings()
        self.registry = ToolRegistry(store_tools(db, self.settings), FAST)

    async def call(
        self, name: str, arguments: dict[str, Any] | None = None, *, customer: str | None = DANA,
        token: str | None = None, conversation: str = "c1",
    ) -> ToolResult:  # fmt: skip
        ctx = ToolContext(conversation, customer_id=customer, confirmation=token)
        return await self.registry.run(tool_call(name, arguments or {}), ctx)

    async def apply(self, name: str, arguments: dict[str, Any], token: str = "tok-1") -> ToolResult:
        """Preview, then confirm: what the customer's Confirm click does."""
        preview = await self.call(name, arguments)
        assert preview.error == "needs_confirmation", preview.message
        applied = await self.call(name, arguments, token=token)
        assert applied.ok, applied.message
        assert applied.data == preview.data["preview"], "the preview shows exactly what is applied"
        return applied


@pytest.fixture
async def shop(tmp_path) -> AsyncIterator[Shop]:
    db = StoreDatabase(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await build_store(db)
    yield Shop(db)
    await db.dispose()


@asynccontextmanager
async def postgres_shop() -> AsyncIterator[Shop]:
    require_postgres()
    with private_schema() as schema:
        db = StoreDatabase(PG_URL, schema)
        try:
            await build_store(db)
            yield Shop(db)
        finally:
            await db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_shop(request, shop) -> AsyncIterator[Shop]:
    """Writes and idempotency run on both backends."""
    if request.param == "sqlite":
        yield shop
        return
    async with postgres_shop() as pg:
        yield pg


def not_found(kind: str, ident: str) -> str:
    return f"{kind} {ident} was not found."
