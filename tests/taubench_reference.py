"""τ-bench retail's write tools on plain JSON documents: the oracle the SQL tools are compared with.

Transcribed from tau2-bench `domains/retail/tools.py` (the effects only; the checks are tested one by
one elsewhere), with two intended differences: amounts are exact cents instead of floats, and each
modified line takes its own new variant's price and options (τ-bench reuses the last one's).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

Doc = dict[str, Any]
CENT = Decimal("0.01")


def _cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _credit(user: Doc, payment_method_id: str, amount: Decimal) -> None:
    method = user["payment_methods"][payment_method_id]
    if method["source"] == "gift_card":
        method["balance"] = float(_cents(method["balance"]) + amount)


def _variant(db: Doc, product_id: str, item_id: str) -> Doc:
    return db["products"][product_id]["variants"][item_id]


def _difference(db: Doc, order: Doc, item_ids: list[str], new_item_ids: list[str]) -> Decimal:
    total = Decimal("0.00")
    for item_id, new_id in zip(item_ids, new_item_ids, strict=True):
        line = next(line for line in order["items"] if line["item_id"] == item_id)
        total += _cents(_variant(db, line["product_id"], new_id)["price"]) - _cents(line["price"])
    return total


def cancel_pending_order(db: Doc, order_id: str, reason: str) -> None:
    order = db["orders"][order_id]
    user = db["users"][order["user_id"]]
    refunds = []
    for payment in order["payment_history"]:
        refunds.append({"transaction_type": "refund", "amount": payment["amount"],
                        "payment_method_id": payment["payment_method_id"]})  # fmt: skip
        _credit(user, payment["payment_method_id"], _cents(payment["amount"]))
    order["status"] = "cancelled"
    order["cancel_reason"] = reason
    order["payment_history"].extend(refunds)


def modify_pending_order_items(
    db: Doc, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> None:
    order = db["orders"][order_id]
    diff = _difference(db, order, item_ids, new_item_ids)
    order["payment_history"].append({"transaction_type": "payment" if diff > 0 else "refund",
                                     "amount": float(abs(diff)), "payment_method_id": payment_method_id})
    _credit(db["users"][order["user_id"]], payment_method_id, -diff)
    for item_id, new_id in zip(item_ids, new_item_ids, strict=True):
        line = next(line for line in order["items"] if line["item_id"] == item_id)
        variant = _variant(db, line["product_id"], new_id)
        line.update(item_id=new_id, price=variant["price"], options=dict(variant["options"]))
    order["status"] = "pending (item modified)"


def modify_pending_order_payment(db: Doc, order_id: str, payment_method_id: str) -> None:
    order = db["orders"][order_id]
    user = db["users"][order["user_id"]]
    old = order["payment_history"][0]
    amount = old["amount"]
    order["payment_history"].extend([
        {"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id},
        {"transaction_type": "refund", "amount": amount, "payment_method_id": old["payment_method_id"]},
    ])  # fmt: skip
    _credit(user, payment_method_id, -_cents(amount))
    _credit(user, old["payment_method_id"], _cents(amount))


def modify_pending_order_address(db: Doc, order_id: str, address: Doc) -> None:
    db["orders"][order_id]["address"] = dict(address)


def modify_user_address(db: Doc, user_id: str, address: Doc) -> None:
    db["users"][user_id]["address"] = dict(address)


def return_delivered_order_items(db: Doc, order_id: str, item_ids: list[str], payment_method_id: str) -> None:
    order = db["orders"][order_id]
    order["status"] = "return requested"
    order["return_items"] = sorted(item_ids)
    order["return_payment_method_id"] = payment_method_id


def exchange_delivered_order_items(
    db: Doc, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> None:
    order = db["orders"][order_id]
    diff = _difference(db, order, item_ids, new_item_ids)
    order["status"] = "exchange requested"
    order["exchange_items"] = sorted(item_ids)
    order["exchange_new_items"] = sorted(new_item_ids)
    order["exchange_payment_method_id"] = payment_method_id
    order["exchange_price_difference"] = float(diff)
