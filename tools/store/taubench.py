"""τ-bench retail JSON in and out of the store: `{"users": {...}, "orders": {...}, "products": {...}}`.

An import replaces the shop's records (customers, payment methods, products, orders) as a whole and
keeps every list in document order, so `export_json(import_json(doc)) == doc`. Tickets and applied
actions are left alone: they are the help desk's history, not shop data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import InvalidOperation
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from tools.store import shapes
from tools.store.db import StoreDatabase
from tools.store.models import Customer, Fulfillment, Order, OrderItem, Payment, PaymentMethod, Product, Variant
from tools.store.shapes import _ACTION_FIELDS, cents

Row = dict[str, Any]
# Children first, so deleting never trips a foreign key whatever the dialect does with cascades.
_SHOP_TABLES = (Payment, Fulfillment, OrderItem, Order, PaymentMethod, Customer, Variant, Product)
_MONEY_ACTION_FIELDS = ("exchange_price_difference",)


class DocumentError(ValueError):
    """The document is not τ-bench retail JSON; the message says where."""


@dataclass(frozen=True)
class ImportReport:
    customers: int
    payment_methods: int
    products: int
    variants: int
    orders: int


@dataclass
class Rows:
    """The store's contents as insertable rows, one list per table, children after their parents."""

    customers: list[Row] = field(default_factory=list)
    payment_methods: list[Row] = field(default_factory=list)
    products: list[Row] = field(default_factory=list)
    variants: list[Row] = field(default_factory=list)
    orders: list[Row] = field(default_factory=list)
    items: list[Row] = field(default_factory=list)
    fulfillments: list[Row] = field(default_factory=list)
    payments: list[Row] = field(default_factory=list)

    def report(self) -> ImportReport:
        return ImportReport(
            len(self.customers), len(self.payment_methods), len(self.products), len(self.variants), len(self.orders)
        )


@contextmanager
def _at(where: str) -> Iterator[None]:
    """Turn a malformed record's KeyError/TypeError into a DocumentError naming the record."""
    try:
        yield
    except DocumentError:
        raise
    except KeyError as exc:
        raise DocumentError(f"{where}: missing {exc}") from exc
    except (TypeError, ValueError, AttributeError, InvalidOperation) as exc:
        raise DocumentError(f"{where}: {type(exc).__name__}: {exc}") from exc


def _section(doc: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise DocumentError("the document must be a JSON object with users, orders and products")
    section = doc.get(name)
    if not isinstance(section, Mapping):
        raise DocumentError(f"{name!r} must be an object keyed by id")
    return section


def _same_id(where: str, key: str, record: Mapping[str, Any], id_key: str) -> str:
    if not isinstance(record, Mapping):
        raise DocumentError(f"{where}: must be an object")
    if record.get(id_key, key) != key:
        raise DocumentError(f"{where}: {id_key} is {record[id_key]!r}, not its key")
    return key


def _address(address: Mapping[str, Any]) -> Row:
    return {name: address[name] for name in ("address1", "city", "state", "country", "zip")} | {
        "address2": address.get("address2", "")
    }


def rows_of(doc: Any) -> Rows:
    """Check the document's shape and flatten it into rows; raises DocumentError."""
    users, orders, products = _section(doc, "users"), _section(doc, "orders"), _section(doc, "products")
    rows = Rows()
    for position, (key, product) in enumerate(products.items()):
        where = f"products[{key!r}]"
        product_id = _same_id(where, key, product, "product_id")
        with _at(where):
            rows.products.append({"id": product_id, "name": product["name"], "position": position})
            for number, (item_id, variant) in enumerate(product["variants"].items()):
                _same_id(f"{where}.variants[{item_id!r}]", item_id, variant, "item_id")
                rows.variants.append({
                    "id": item_id, "product_id": product_id, "position": number, "options": dict(variant["options"]),
                    "price": cents(variant["price"]), "available": bool(variant["available"]),
                })  # fmt: skip

    order_places: dict[str, tuple[str, int]] = {}
    for key, user in users.items():
        where = f"users[{key!r}]"
        user_id = _same_id(where, key, user, "user_id")
        with _at(where):
            rows.customers.append({
                "id": user_id, "first_name": user["name"]["first_name"], "last_name": user["name"]["last_name"],
                "email": user["email"], **_address(user["address"]),
            })  # fmt: skip
            for number, (method_id, method) in enumerate(user["payment_methods"].items()):
                _same_id(f"{where}.payment_methods[{method_id!r}]", method_id, method, "id")
                balance = method.get("balance")
                rows.payment_methods.append({
                    "id": method_id, "customer_id": user_id, "position": number, "source": method["source"],
                    "brand": method.get("brand"), "last_four": method.get("last_four"),
                    "balance": None if balance is None else cents(balance),
                })  # fmt: skip
            for number, order_id in enumerate(user["orders"]):
                if order_id not in orders:
                    raise DocumentError(f"{where}.orders: {order_id!r} is not in 'orders'")
                order_places[order_id] = (user_id, number)

    unlisted: dict[str, int] = {}
    for key, order in orders.items():
        where = f"orders[{key!r}]"
        order_id = _same_id(where, key, order, "order_id")
        with _at(where):
            owner = order["user_id"]
            if owner not in users:
                raise DocumentError(f"{where}: user {owner!r} is not in 'users'")
            listed_by, position = order_places.get(order_id, (owner, None))
            if listed_by != owner:
                raise DocumentError(f"{where}: belongs to {owner!r} but is listed by {listed_by!r}")
            if position is None:  # not in its user's list: after the listed ones, in document order
                extra = unlisted[owner] = unlisted.get(owner, 0) + 1
                position = len(users[owner]["orders"]) + extra - 1
            rows.orders.append(_order_row(order, order_id, owner, position))
            _order_lines(rows, order_id, order)
    return rows


def _order_row(order: Mapping[str, Any], order_id: str, owner: str, position: int) -> Row:
    row: Row = {
        "id": order_id, "customer_id": owner, "position": position, "status": order["status"],
        **_address(order["address"]),
    }  # fmt: skip
    for name in _ACTION_FIELDS:
        if order.get(name) is not None:  # absent keys stay NULL, so the export leaves them out again
            row[name] = cents(order[name]) if name in _MONEY_ACTION_FIELDS else order[name]
    return row


def _order_lines(rows: Rows, order_id: str, order: Mapping[str, Any]) -> None:
    def lines(key: str, make: Callable[[Mapping[str, Any]], Row]) -> list[Row]:
        return [{"order_id": order_id, "position": n, **make(line)} for n, line in enumerate(order[key])]

    rows.items += lines("items", lambda i: {
        "item_id": i["item_id"], "product_id": i["product_id"], "name": i["name"], "price": cents(i["price"]),
        "options": dict(i["options"]),
    })  # fmt: skip
    rows.fulfillments += lines(
        "fulfillments", lambda f: {"tracking_ids": list(f["tracking_id"]), "item_ids": list(f["item_ids"])}
    )
    rows.payments += lines("payment_history", lambda p: {
        "transaction_type": p["transaction_type"], "amount": cents(p["amount"]),
        "payment_method_id": p["payment_method_id"],
    })  # fmt: skip


async def wipe(session: AsyncSession) -> None:
    """Delete the shop's records (not tickets or applied actions)."""
    for model in _SHOP_TABLES:
        await session.execute(delete(model))


async def write_rows(session: AsyncSession, rows: Rows) -> ImportReport:
    """Insert `rows` in bulk (one executemany per table and key set); the caller's transaction commits."""
    for model, batch in (
        (Customer, rows.customers), (PaymentMethod, rows.payment_methods), (Product, rows.products),
        (Variant, rows.variants), (Order, rows.orders), (OrderItem, rows.items), (Fulfillment, rows.fulfillments),
        (Payment, rows.payments),
    ):  # fmt: skip
        if batch:
            await session.execute(insert(model), batch)
    return rows.report()


async def import_json(db: StoreDatabase, doc: Any) -> ImportReport:
    """Replace the shop's records with a τ-bench retail document, in one transaction."""
    rows = rows_of(doc)  # a bad document fails before anything is deleted
    async with db.session() as session:
        await wipe(session)
        return await write_rows(session, rows)


async def export_json(db: StoreDatabase) -> dict[str, Any]:
    """The shop's records as a τ-bench retail document (customers and orders by id, products in order)."""
    async with db.read() as session:
        customers = (await session.scalars(
            select(Customer).options(selectinload(Customer.payment_methods), selectinload(Customer.orders))
            .order_by(Customer.id)
        )).all()  # fmt: skip
        products = (await session.scalars(
            select(Product).options(selectinload(Product.variants)).order_by(Product.position, Product.id)
        )).all()  # fmt: skip
        orders = sorted((order for c in customers for order in c.orders), key=lambda order: order.id)
        return {
            "users": {c.id: shapes.customer(c) for c in customers},
            "orders": {order.id: shapes.order(order) for order in orders},
            "products": {p.id: shapes.product(p) for p in products},
        }
