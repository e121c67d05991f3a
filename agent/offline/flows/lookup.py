"""Needs most flows share: the customer identified, their orders listed, one order chosen and read.

Each `need_*` returns None once its need is met, or the step that meets it (a tool call or a question).
"""

from __future__ import annotations

from typing import Any

from agent.offline import replies
from agent.offline.flows.base import Call, Context, Step, call
from agent.offline.flows.rules import Eligible, eligible
from agent.offline.flows.slots import resolve

MAX_ORDER_CHOICES = 5  # buttons beyond this crowd the chat; the customer can type any order number


def need_account(ctx: Context) -> Step | None:
    """Account tools answer. Signed-in customers are bound already, so try before asking who they are."""
    state = ctx.state
    if state.bound:
        return None
    if not state.data.get("anonymous"):
        return call("list_my_orders")  # refused with "forbidden" when nobody is identified yet
    return identify(ctx)


def identify(ctx: Context) -> Step:
    """Look the customer up by email, or by name and zip code, asking for what's missing."""
    flow, state = ctx.flow, ctx.state
    if not flow.data.get("identity_asked"):
        flow.data["identity_asked"] = True
        flow.clear("name", "zip")  # a name or zip counts only as an answer to the question
    # Details that failed a lookup are cleared (observe.py), so each is tried once.
    if email := resolve(ctx, "email"):
        return call("find_user_id_by_email", email=email)
    name, zip_code = resolve(ctx, "name"), resolve(ctx, "zip")
    if name and zip_code:
        return call("find_user_id_by_name_zip", first_name=name[0], last_name=name[1], zip=zip_code)
    if failed := state.turn.get("identify_failed"):
        state.notice(f"{failed} {replies.CHECK_DETAILS}")
    if name:
        return ctx.ask("identity", replies.ASK_ZIP)
    if zip_code:
        return ctx.ask("identity", replies.ASK_NAME)
    return ctx.ask("identity", replies.ASK_IDENTITY.format(doing=replies.DOING.get(flow.intent, "your request")))


def need_orders(ctx: Context) -> Step | None:
    if (step := need_account(ctx)) is not None:
        return step
    if ctx.orders is not None:
        return None
    if ctx.state.customer and ctx.user is None:
        # Flows that act on an order usually need the payment methods too: one round trip for both.
        return Call((("list_my_orders", {}), ("get_user_details", {"user_id": ctx.state.customer})))
    return call("list_my_orders")


def need_order(ctx: Context, eligible: Eligible, question: str) -> Step | None:
    """The order the flow is about: named, implied ("my last order", "the lamp order"), the only one that
    fits, or chosen from the customer's fitting orders (newest first). An order that doesn't fit is kept
    when named: the flow explains the rule once it has read the order."""
    if ctx.flow.get("order_id"):
        return None
    if (step := need_orders(ctx)) is not None:
        return step
    fitting = [order for order in ctx.orders or [] if eligible(order)]
    rejected = ctx.flow.rejected("order_id")
    if resolve(ctx, "order_id"):
        return None
    if len(fitting) == 1 and not rejected:
        ctx.flow.fill("order_id", fitting[0]["order_id"])
        return None
    if not fitting:
        return None  # the flow says why nothing fits
    offered = [order for order in fitting if order["order_id"] not in rejected] or fitting
    choices = {replies.order_label(order): order["order_id"] for order in offered[:MAX_ORDER_CHOICES]}
    return ctx.ask("order_id", question, choices)


def chosen_order(ctx: Context, question: str) -> dict[str, Any] | Step | None:
    """The order the flow acts on, read; the step towards it; or None when no order fits the request."""
    if (step := need_order(ctx, eligible(ctx.flow.intent, ctx.flow.get("kind")), question)) is not None:
        return step
    if not ctx.flow.get("order_id"):
        return None
    if (step := need_details(ctx)) is not None:
        return step
    return ctx.order()


def cannot(ctx: Context, order: dict[str, Any], action: str) -> Step:
    """The rule that forbids `action` on this order, in plain words, and what the customer can do instead."""
    text, instead = replies.not_possible(action, order)
    return ctx.refuse(f"{action} is not possible: order {order['order_id']} is {order['status']}", text, instead)


def need_details(ctx: Context) -> Step | None:
    """The chosen order's details (items, payments): the flow checks its rules on them."""
    order_id = ctx.flow.get("order_id")
    if order_id and ctx.order(order_id) is None:
        return call("get_order_details", order_id=order_id)
    return None


def need_user(ctx: Context) -> Step | None:
    """The customer's record (payment methods, address). The id comes from identification or an order."""
    if ctx.user is not None:
        return None
    if (step := need_account(ctx)) is not None:
        return step
    if ctx.state.customer:
        return call("get_user_details", user_id=ctx.state.customer)
    # Signed in: the id is on any of their orders.
    if (step := need_orders(ctx)) is not None:
        return step
    if ctx.orders:
        return call("get_order_details", order_id=ctx.orders[0]["order_id"])
    ctx.state.data["anonymous"] = True  # no order to learn the id from: ask who they are
    ctx.state.bound = False
    return identify(ctx)
