"""Store rows as τ-bench retail documents: the shape tools return and `export-json` writes.

Money leaves as floats rounded to cents, as in τ-bench; keys written by actions appear only once set.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tools.store.models import Customer, Order, PaymentMethod, PostalAddress, Product

_ACTION_FIELDS = (
    "cancel_reason", "return_items", "return_payment_method_id", "exchange_items", "exchange_new_items",
    "exchange_payment_method_id", "exchange_price_difference",
)  # fmt: skip


def money(value: Decimal | float | int) -> float:
    return float(Decimal(str(value)).quantize(Decimal("0.01")))


def cents(value: Decimal | float | int | str) -> Decimal:
    """Any amount as an exact Decimal of cents (floats go through str, so 47.84 stays 47.84)."""
    return Decimal(str(value)).quantize(Decimal("0.01"))


def address(row: PostalAddress) -> dict[str, str]:
    return {
        "address1": row.address1, "address2": row.address2, "city": row.city,
        "country": row.country, "state": row.state, "zip": row.zip,
    }  # fmt: skip


def payment_method(row: PaymentMethod) -> dict[str, Any]:
    doc: dict[str, Any] = {"source": row.source, "id": row.id}
    if row.source == "credit_card":
        doc["brand"] = row.brand
        doc["last_four"] = row.last_four
    elif row.source == "gift_card":
        doc["balance"] = money(row.balance or 0)
    return doc


def customer(row: Customer) -> dict[str, Any]:
    """Needs `payment_methods` and `orders` loaded."""
    return {
        "user_id": row.id,
        "name": {"first_name": row.first_name, "last_name": row.last_name},
        "address": address(row),
        "email": row.email,
        "payment_methods": {pm.id: payment_method(pm) for pm in row.payment_methods},
        "orders": [order.id for order in row.orders],
    }


def order(row: Order) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "order_id": row.id,
        "user_id": row.customer_id,
        "address": address(row),
        "items": [
            {"name": i.name, "product_id": i.product_id, "item_id": i.item_id, "price": money(i.price),
             "options": dict(i.options)}
            for i in row.items
        ],
        "status": row.status,
        "fulfillments": [{"tracking_id": list(f.tracking_ids), "item_ids": list(f.item_ids)} for f in row.fulfillments],
        "payment_history": [
            {"transaction_type": p.transaction_type, "amount": money(p.amount), "payment_method_id": p.payment_method_id}
            for p in row.payments
        ],
    }
    for name in _ACTION_FIELDS:
        value = getattr(row, name)
        if value is not None:
            doc[name] = money(value) if isinstance(value, Decimal) else value
    return doc


def product(row: Product) -> dict[str, Any]:
    """Needs `variants` loaded."""
    return {
        "name": row.name,
        "product_id": row.id,
        "variants": {
            v.id: {"item_id": v.id, "options": dict(v.options), "available": v.available, "price": money(v.price)}
            for v in row.variants
        },
    }
