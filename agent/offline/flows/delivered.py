"""Returns and exchanges of delivered orders."""

from __future__ import annotations

from typing import Any

from agent.offline import replies
from agent.offline.flows.base import Context, Step, Switched
from agent.offline.flows.choose import need_items, need_refund_method, swap, understood
from agent.offline.flows.lookup import cannot, chosen_order, need_user
from agent.offline.flows.rules import is_delivered, is_pending
from agent.offline.intents import MODIFY_ORDER


def _delivered_order(ctx: Context, question: str, action: str) -> dict[str, Any] | Step:
    order = chosen_order(ctx, question)
    if order is None:
        return ctx.refuse(f"no delivered order to {action}", replies.nothing_delivered(action), {})
    if isinstance(order, dict) and action == "exchange" and is_pending(order):
        # Not shipped yet: the same wish is an item change of the pending order.
        ctx.state.notice(replies.SWAP_INSTEAD.format(order_id=order["order_id"]))
        ctx.switch(MODIFY_ORDER, ("order_id", "item_ids"), kind="items")
        return Switched()
    if isinstance(order, dict) and not is_delivered(order):
        return cannot(ctx, order, action)
    return order


def return_items(ctx: Context) -> Step:
    order = _delivered_order(ctx, "Which order would you like to return items from?", "return")
    if not isinstance(order, dict):
        return order
    if (step := need_items(ctx, replies.ASK_ITEMS_TO_RETURN)) is not None:
        return step
    if (step := need_user(ctx)) is not None:
        return step
    if (step := need_refund_method(ctx, understood(ctx, "I'll return the"))) is not None:
        return step
    return ctx.write("return_delivered_order_items", order_id=order["order_id"], item_ids=ctx.flow.get("item_ids"),
                     payment_method_id=ctx.flow.get("payment_method_id"))


def exchange_items(ctx: Context) -> Step:
    order = _delivered_order(ctx, "Which order would you like to exchange items from?", "exchange")
    if not isinstance(order, dict):
        return order
    return swap(ctx, "exchange_delivered_order_items", replies.ASK_ITEMS_TO_EXCHANGE, "I'll exchange the")
