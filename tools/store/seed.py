"""The demo shop: our own catalogue, a fixed demo customer, and a few hundred generated customers and orders.

Everything comes from `random.Random` instances, never the global generator, so a seed always gives
the same shop. The catalogue and the demo customer (dana@example.com) never depend on the seed: docs,
browser tests and the tools CLI name her orders and payment methods.

The parts: catalogue (products), demo_customers (the generated customers and their orders); here the
demo customer, the whole shop as a τ-bench document, and writing it to the store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import false, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from tools.settings import ToolConfig
from tools.store.catalogue import Doc, _by_name, _line, _total, _variant, catalogue
from tools.store.db import StoreDatabase
from tools.store.demo_customers import _Shop
from tools.store.models import Customer
from tools.store.taubench import ImportReport, rows_of, wipe, write_rows

log = logging.getLogger("tools.store")
DANA_ID = "dana_whitfield_1001"
DANA_EMAIL = "dana@example.com"
# Seeding holds this PostgreSQL lock, so instances starting together seed once.
_SEED_LOCK = 0x5707_5EED


@dataclass(frozen=True)
class SeedReport(ImportReport):
    seed: int


# --- the demo customer


def _dana(products: Doc) -> tuple[Doc, list[Doc], dict[str, datetime]]:
    named = _by_name(products)
    address = {
        "address1": "12 Larkspur Lane", "address2": "Apt 4", "city": "Portland", "country": "USA",
        "state": "OR", "zip": "97205",
    }  # fmt: skip
    user = {
        "user_id": DANA_ID, "name": {"first_name": "Dana", "last_name": "Whitfield"}, "address": address,
        "email": DANA_EMAIL,
        "payment_methods": {
            "gift_card_1001001": {"source": "gift_card", "id": "gift_card_1001001", "balance": 150.0},
            "credit_card_1001002": {
                "source": "credit_card", "id": "credit_card_1001002", "brand": "visa", "last_four": "4242",
            },
            "paypal_1001003": {"source": "paypal", "id": "paypal_1001003"},
        },
        "orders": [],
    }  # fmt: skip
    plans = [
        ("#W1001001", "delivered", "credit_card_1001002", "284716395028", datetime(2026, 11, 5, 14, 12), [
            _line(named["Headphones"], _variant(named["Headphones"], color="black", connectivity="wireless")),
            _line(named["Mechanical Keyboard"], _variant(named["Mechanical Keyboard"])),
        ]),
        ("#W1001002", "processed", "paypal_1001003", "573920184637", datetime(2026, 11, 19, 9, 40), [
            _line(named["Backpack"], _variant(named["Backpack"])),
        ]),
        ("#W1001003", "pending", "gift_card_1001001", None, datetime(2026, 11, 22, 20, 5), [
            _line(named["Water Bottle"], _variant(named["Water Bottle"])),
            _line(named["Desk Lamp"], _variant(named["Desk Lamp"])),
        ]),
        ("#W1001004", "pending", "credit_card_1001002", None, datetime(2026, 11, 23, 8, 30), [
            _line(named["Hoodie"], _variant(named["Hoodie"], size="M")),
        ]),
    ]  # fmt: skip
    orders, placed = [], {}
    for order_id, status, method, tracking, when, items in plans:
        fulfillments = [{"tracking_id": [tracking], "item_ids": [i["item_id"] for i in items]}] if tracking else []
        orders.append({
            "order_id": order_id, "user_id": DANA_ID, "address": dict(address), "items": items,
            "status": status, "fulfillments": fulfillments,
            "payment_history": [{"transaction_type": "payment", "amount": _total(items), "payment_method_id": method}],
        })  # fmt: skip
        user["orders"].append(order_id)
        placed[order_id] = when
    return user, orders, placed


def build_demo(customers: int, seed: int) -> tuple[Doc, dict[str, datetime]]:
    """The demo shop as a τ-bench document, and when each order was placed. `customers` counts Dana."""
    products = catalogue()
    dana, dana_orders, placed = _dana(products)
    shop = _Shop(seed, products)
    users = {dana["user_id"]: dana}
    for _ in range(max(customers, 1) - 1):
        user = shop.customer()
        users[user["user_id"]] = user
    orders = {order["order_id"]: order for order in [*dana_orders, *shop.orders]}
    return {"users": users, "orders": orders, "products": products}, placed | shop.placed


# --- writing


async def _write_demo(session: AsyncSession, customers: int, seed: int) -> SeedReport:
    doc, placed = build_demo(customers, seed)
    rows = rows_of(doc)
    for order in rows.orders:
        order["placed_at"] = placed[order["id"]]
    await wipe(session)
    report = await write_rows(session, rows)
    return SeedReport(**vars(report), seed=seed)


async def seed_demo(db: StoreDatabase, customers: int, seed: int) -> SeedReport:
    """Replace the shop's records with the demo shop for `seed`."""
    async with db.session() as session:
        return await _write_demo(session, customers, seed)


async def _no_customers(session: AsyncSession) -> bool:
    return not await session.scalar(select(func.count()).select_from(Customer))


async def is_empty(db: StoreDatabase) -> bool:
    """True when the store has no customers (products alone do not make a shop)."""
    async with db.read() as session:
        return await _no_customers(session)


async def ensure_seeded(db: StoreDatabase, settings: ToolConfig) -> bool:
    """Seed the demo shop if the store has no customers; True if this call seeded it.

    On PostgreSQL an advisory lock makes instances starting together seed once: the second one waits,
    then sees the customers. On SQLite the loser of a race fails to write (a stale snapshot or a key
    conflict); with customers there by then, that reads as "someone else seeded".
    """
    try:
        async with db.session() as session:
            if db.engine.dialect.name == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEED_LOCK})
            else:  # a write that changes nothing takes SQLite's write lock before we look
                await session.execute(update(Customer).where(false()).values(id=Customer.id))
            if not await _no_customers(session):
                return False
            report = await _write_demo(session, settings.store.seed_customers, settings.store.seed_random_seed)
        log.info("seeded the demo shop: %d customers, %d orders, seed %d", report.customers, report.orders, report.seed)
        return True
    except DBAPIError:
        if await is_empty(db):
            raise
        return False
