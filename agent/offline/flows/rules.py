"""The shop's rules as the flows need them: which orders each request applies to.

The write tools enforce these rules themselves; the flows check them first so the customer hears the
rule in plain words (and what they can do instead) rather than a refusal after a confirmation card.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.offline.intents import (
    CANCEL_ORDER, EXCHANGE_ITEMS, MODIFY_ORDER, REFUND_STATUS, RETURN_ITEMS,
)  # fmt: skip

Eligible = Callable[[dict[str, Any]], bool]

PENDING = "pending"
DELIVERED = "delivered"
CANCELLED = "cancelled"
REFUNDING = frozenset({CANCELLED, "return requested", "exchange requested", "pending (item modified)"})
# When an order changes, what was chosen inside it no longer applies.
DEPENDS = {
    "order_id": ("item_ids", "payment_method_id", "new_items"),
    "item_ids": ("new_items",),
    "kind": ("item_ids", "new_items", "payment_method_id", "address"),
}


def any_order(order: dict[str, Any]) -> bool:
    return True


def is_pending(order: dict[str, Any]) -> bool:
    """Cancel and item changes: exactly "pending" (an order's items change once)."""
    return order.get("status") == PENDING


def is_changeable(order: dict[str, Any]) -> bool:
    """Address and payment changes: "pending" or "pending (item modified)"."""
    return PENDING in str(order.get("status"))


def is_delivered(order: dict[str, Any]) -> bool:
    return order.get("status") == DELIVERED


def is_refunding(order: dict[str, Any]) -> bool:
    return order.get("status") in REFUNDING


def eligible(intent: str, kind: str | None = None) -> Eligible:
    """The orders a request applies to; `kind` is what a modification changes."""
    if intent == CANCEL_ORDER or (intent == MODIFY_ORDER and kind == "items"):
        return is_pending
    if intent == MODIFY_ORDER:
        return is_changeable
    if intent in (RETURN_ITEMS, EXCHANGE_ITEMS):
        return is_delivered
    if intent == REFUND_STATUS:
        return is_refunding
    return any_order


def original_method(order: dict[str, Any]) -> str | None:
    """The payment method the order was paid with (its first payment)."""
    payments = [p for p in order.get("payment_history", []) if p.get("transaction_type") == "payment"]
    return payments[0]["payment_method_id"] if payments else None


def order_total(order: dict[str, Any]) -> float:
    return round(sum(float(item["price"]) for item in order.get("items", [])), 2)
