"""Information flows about one order: where it is, where its refund stands, its receipt."""

from __future__ import annotations

from typing import Any

from agent.offline import replies
from agent.offline.flows.base import Context, Step, call
from agent.offline.flows.lookup import need_order
from agent.offline.flows.rules import eligible


def _answer(ctx: Context, tool: str, question: str, none_fit: str = replies.NO_ORDERS) -> dict[str, Any] | Step:
    """What `tool` said about the chosen order, or the step towards it (no details read: the tool says it)."""
    if (step := need_order(ctx, eligible(ctx.flow.intent), question)) is not None:
        return step
    order_id = ctx.flow.get("order_id")
    if not order_id:
        return ctx.done(none_fit)
    if (result := ctx.flow.results.get(tool)) is None:
        return call(tool, order_id=order_id)
    return result


def order_status(ctx: Context) -> Step:
    result = _answer(ctx, "track_order", "Which order would you like me to check?")
    if not isinstance(result, dict):
        return result
    return ctx.done(replies.tracking(result["data"]))


def refund_status(ctx: Context) -> Step:
    # Only a cancellation, a return, an exchange or an item change refunds anything: those orders are offered.
    result = _answer(ctx, "get_refund_status", "Which order's refund would you like me to check?", replies.NO_REFUNDS)
    if not isinstance(result, dict):
        return result
    return ctx.done(result["message"])


def invoice(ctx: Context) -> Step:
    result = _answer(ctx, "get_invoice", "Which order would you like the receipt for?")
    if not isinstance(result, dict):
        return result
    return ctx.done(replies.receipt(result["data"]))
