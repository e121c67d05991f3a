"""Billing reads: where an order's refunds stand, and its receipt."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tools.base import Tool, ToolContext, ToolResult, tool
from tools.store import shapes, wording
from tools.store.access import Scope, StoreAccess
from tools.store.models import Customer, Order, Payment, PaymentMethod, Variant
from tools.store.params import OrderId
from tools.store.rules import ZERO, lines_for, price_of
from tools.store.shapes import cents


def _money_line(payment: Payment, methods: dict[str, PaymentMethod]) -> dict[str, Any]:
    pm = methods.get(payment.payment_method_id)
    return {
        "amount": shapes.money(payment.amount),
        "payment_method_id": payment.payment_method_id,
        "method": wording.method(pm, payment.payment_method_id),
        "timing": wording.timing(pm),
    }


def _total(payments: list[Payment], transaction_type: str) -> Decimal:
    return cents(sum((cents(p.amount) for p in payments if p.transaction_type == transaction_type), ZERO))


async def _new_items(scope: Scope, item_ids: list[str]) -> list[str]:
    variants = {
        v.id: v
        for v in await scope.session.scalars(
            select(Variant).where(Variant.id.in_(item_ids)).options(selectinload(Variant.product))
        )
    }
    return [wording.item(variants[i].product.name, variants[i].options) if i in variants else i for i in item_ids]


async def _request(scope: Scope, order: Order, methods: dict[str, PaymentMethod]) -> tuple[dict[str, Any] | None, str]:
    """The open return or exchange request, if any, and how its money will move."""
    if order.status == "return requested" and order.return_items is not None:
        pm_id = order.return_payment_method_id or ""
        pm = methods.get(pm_id)
        amount = price_of(lines_for(order, order.return_items))
        to = wording.method(pm, pm_id)
        request = {
            "type": "return", "items": wording.labels(order, order.return_items),
            "refund_amount": shapes.money(amount), "payment_method_id": pm_id, "method": to,
            "timing": f"{wording.RETURN_INSPECTION}; {wording.after_issue(pm)}",
        }  # fmt: skip
        return request, (
            f"A return is requested: {wording.usd(amount)} will be refunded to {to}. "
            f"It is {wording.RETURN_INSPECTION}; {wording.after_issue(pm)}."
        )
    if order.status == "exchange requested" and order.exchange_items is not None:
        pm_id = order.exchange_payment_method_id or ""
        pm = methods.get(pm_id)
        diff = cents(order.exchange_price_difference or 0)
        to = wording.method(pm, pm_id)
        request = {
            "type": "exchange", "items": wording.labels(order, order.exchange_items),
            "new_items": await _new_items(scope, order.exchange_new_items or []),
            "price_difference": shapes.money(diff), "payment_method_id": pm_id, "method": to,
        }  # fmt: skip
        if diff > 0:
            return request, f"An exchange is requested; the price difference of {wording.usd(diff)} is charged to {to}."
        if diff < 0:
            return request, (
                f"An exchange is requested; the price difference of {wording.usd(-diff)} is refunded to {to} "
                f"({wording.timing(pm)})."
            )
        return request, "An exchange is requested, with no price difference."
    return None, ""


def billing_tools(access: StoreAccess) -> list[Tool]:
    @tool(backend="store")
    async def get_refund_status(ctx: ToolContext, order_id: OrderId) -> ToolResult:
        """Refunds of an order: amounts, where the money goes and when, and any return or exchange request."""
        async with access.reading(ctx) as scope:
            order = await scope.order(order_id)
            methods = await scope.payment_methods()
            request, requested = await _request(scope, order, methods)
            return _refund_status(order, methods, request, requested)

    @tool(backend="store")
    async def get_invoice(ctx: ToolContext, order_id: OrderId) -> ToolResult:
        """A receipt for an order: lines, subtotal, payments, refunds and the net amount paid."""
        async with access.reading(ctx) as scope:
            order = await scope.order(order_id)
            customer = await scope.session.get_one(Customer, scope.customer_id)
            return _invoice(order, customer, await scope.payment_methods())

    return [get_refund_status, get_invoice]


def _refund_status(
    order: Order, methods: dict[str, PaymentMethod], request: dict[str, Any] | None, requested: str
) -> ToolResult:
    refunds = [_money_line(p, methods) for p in order.payments if p.transaction_type == "refund"]
    parts = [
        f"{wording.usd(cents(r['amount']))} refunded to {r['method']} ({r['timing']})." for r in refunds
    ] or [f"No refund has been issued for order {order.id}."]
    if requested:
        parts.append(requested)
    data = {"order_id": order.id, "status": order.status, "refunds": refunds, "request": request}
    return ToolResult.success(data, message=" ".join(parts))


def _invoice(order: Order, customer: Customer, methods: dict[str, PaymentMethod]) -> ToolResult:
    subtotal = price_of(order.items)
    paid, refunded = _total(order.payments, "payment"), _total(order.payments, "refund")
    payments = [_money_line(p, methods) for p in order.payments if p.transaction_type == "payment"]
    refunds = [_money_line(p, methods) for p in order.payments if p.transaction_type == "refund"]
    for line in payments + refunds:
        del line["timing"]  # a receipt states what happened, not when money arrives
    data = {
        "order_id": order.id,
        "status": order.status,
        "placed": order.placed_at.date().isoformat() if order.placed_at else None,
        "bill_to": {"name": f"{customer.first_name} {customer.last_name}", "email": customer.email},
        "ship_to": shapes.address(order),
        "lines": [
            {"item_id": line.item_id, "description": wording.item(line.name, line.options),
             "price": shapes.money(line.price)}
            for line in order.items
        ],
        "subtotal": shapes.money(subtotal),
        "payments": payments,
        "refunds": refunds,
        "net_paid": shapes.money(paid - refunded),
    }  # fmt: skip
    methods_used = ", ".join(dict.fromkeys(p["method"] for p in payments)) or "no payment"
    message = (
        f"Receipt for order {order.id}: {len(order.items)} item(s), subtotal {wording.usd(subtotal)}, "
        f"paid {wording.usd(paid)} ({methods_used}), refunded {wording.usd(refunded)}, "
        f"net paid {wording.usd(paid - refunded)}."
    )
    return ToolResult.success(data, message=message)
