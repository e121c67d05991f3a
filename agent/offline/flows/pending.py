"""Changes to orders that haven't left the warehouse: cancel, or change address, payment or items."""

from __future__ import annotations

from typing import Any

from agent.offline import replies
from agent.offline.flows.base import Context, Step, Switched
from agent.offline.flows.choose import need_address, need_payment, swap
from agent.offline.flows.lookup import cannot, chosen_order, need_user
from agent.offline.flows.rules import is_changeable, is_delivered, is_pending, order_total, original_method
from agent.offline.flows.slots import resolve
from agent.offline.intents import EXCHANGE_ITEMS


def _pending_order(ctx: Context, question: str, action: str) -> dict[str, Any] | Step:
    order = chosen_order(ctx, question)
    if order is None:
        return ctx.refuse(f"no pending order to {action}", replies.nothing_pending(action), {})
    return order


def cancel_order(ctx: Context) -> Step:
    order = _pending_order(ctx, "Which order would you like to cancel?", "cancel")
    if not isinstance(order, dict):
        return order
    if not is_pending(order):
        return cannot(ctx, order, "cancel")
    if not (reason := resolve(ctx, "reason")):
        return ctx.ask("reason", replies.ask_reason(order), replies.CANCEL_REASONS)
    return ctx.write("cancel_pending_order", order_id=order["order_id"], reason=reason)


def modify_order(ctx: Context) -> Step:
    resolve(ctx, "kind")
    order = _pending_order(ctx, "Which order would you like to change?", "change")
    if not isinstance(order, dict):
        return order
    kind = ctx.flow.get("kind")
    if kind == "items" and is_delivered(order):
        # Delivered: the same wish is an exchange.
        ctx.state.notice(replies.EXCHANGE_INSTEAD.format(order_id=order["order_id"]))
        ctx.switch(EXCHANGE_ITEMS, ("order_id", "item_ids"))
        return Switched()
    if not is_changeable(order):
        return cannot(ctx, order, "change")
    if kind is None:
        return ctx.ask("kind", replies.ASK_MODIFY_KIND.format(order_id=order["order_id"]), replies.MODIFY_KINDS)
    if kind == "items":
        return _items(ctx, order)
    if kind == "payment":
        return _payment(ctx, order)
    if (step := need_address(ctx)) is not None:
        return step
    return ctx.write("modify_pending_order_address", order_id=order["order_id"], **ctx.flow.get("address"))


def _payment(ctx: Context, order: dict[str, Any]) -> Step:
    if (step := need_user(ctx)) is not None:
        return step
    current = original_method(order)
    question = replies.ASK_NEW_PAYMENT.format(total=replies.money(order_total(order)))
    if (step := need_payment(ctx, question, exclude=(current,) if current else (), amount=order_total(order))):
        return step
    return ctx.write("modify_pending_order_payment", order_id=order["order_id"],
                     payment_method_id=ctx.flow.get("payment_method_id"))


def _items(ctx: Context, order: dict[str, Any]) -> Step:
    if not is_pending(order):
        return cannot(ctx, order, "change items")
    return swap(ctx, "modify_pending_order_items", replies.ASK_ITEMS_TO_CHANGE, "I'll swap the")
