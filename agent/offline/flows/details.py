"""Questions about the customer's own records, answered from them: "what email and address are on my
account?", "what payment methods do I have on file?", "what address is order #W1001004 going to?".

They read like requests ("address", "payment") but change nothing: no card, only the record.
"""

from __future__ import annotations

from agent.offline import entities, replies
from agent.offline.flows.base import Context, Step
from agent.offline.flows.lookup import chosen_order, need_user


def my_details(ctx: Context) -> Step:
    if any(entities.order_ids(text) for text in ctx.flow.heard("order_id")) or ctx.flow.get("order_id"):
        order = chosen_order(ctx, replies.ASK_WHICH_ORDER_DETAILS)
        if not isinstance(order, dict):
            return order if order is not None else ctx.done(replies.NO_ORDERS)
        return ctx.done(replies.ORDER_SHIPS_TO.format(order_id=order["order_id"],
                                                      address=replies.address(order.get("address") or {})))
    if (step := need_user(ctx)) is not None:
        return step
    user = ctx.user or {}
    methods = ", ".join(replies.payment_label(m) for m in (user.get("payment_methods") or {}).values())
    return ctx.done(replies.ACCOUNT_DETAILS.format(email=user.get("email", "not on record"),
                                                   address=replies.address(user.get("address") or {}),
                                                   methods=methods or "none saved"))
