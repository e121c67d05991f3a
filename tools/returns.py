"""Returns and exchanges of delivered orders, with τ-bench retail's rules."""

from __future__ import annotations

from tools.base import Tool, ToolContext, ToolResult, tool
from tools.store import shapes, wording
from tools.store.access import Change, Scope, StoreAccess
from tools.store.params import ItemIds, NewItemIds, OrderId, PaymentMethodId
from tools.store.rules import check_counts, invalid, is_gift_card, lines_for, plan_swaps, price_of

DELIVERED = "delivered"
ONCE = "No other return or exchange can be requested for this order afterwards."


def return_tools(access: StoreAccess) -> list[Tool]:
    return [*_return(access), *_exchange(access)]


def _return(access: StoreAccess) -> list[Tool]:
    @tool(backend="store", writes=True, acts_on="order_id")
    async def return_delivered_order_items(
        ctx: ToolContext, order_id: OrderId, item_ids: ItemIds, payment_method_id: PaymentMethodId
    ) -> ToolResult:
        """Request a return of items of a delivered order. Needs the customer's confirmation.

        The refund goes to the original payment method or to one of the customer's gift cards. Possible once
        per order: collect every item first. The customer gets an email on how to send the items back.
        """

        async def rule(scope: Scope) -> Change:
            order = await scope.order(order_id)
            if order.status != DELIVERED:
                raise invalid("Non-delivered order cannot be returned")
            method = await scope.payment_method(payment_method_id)
            original = order.payments[0].payment_method_id if order.payments else None
            if not is_gift_card(method) and payment_method_id != original:
                raise invalid("Payment method should be the original payment method")
            check_counts(order, item_ids)
            refund = price_of(lines_for(order, item_ids))
            labels = wording.items(order, item_ids)
            to = wording.method(method, payment_method_id)
            order.status = "return requested"
            order.return_items = sorted(item_ids)
            order.return_payment_method_id = payment_method_id
            return Change(
                summary=[
                    f"Return from order {order.id}: {labels}.",
                    f"Refund {wording.usd(refund)} to {to}. It is {wording.RETURN_INSPECTION}; "
                    f"{wording.after_issue(method)}.",
                    ONCE,
                ],
                document=shapes.order(order),
                message=(
                    f"The return for order {order.id} is requested; an email explains how to send the items back. "
                    f"{wording.usd(refund)} will be refunded to your {to} once the return is inspected."
                ),
            )

        arguments = {"order_id": order_id, "item_ids": item_ids, "payment_method_id": payment_method_id}
        return await access.write(ctx, "return_delivered_order_items", arguments, rule)

    return [return_delivered_order_items]


def _exchange(access: StoreAccess) -> list[Tool]:
    @tool(backend="store", writes=True, acts_on="order_id")
    async def exchange_delivered_order_items(
        ctx: ToolContext, order_id: OrderId, item_ids: ItemIds, new_item_ids: NewItemIds,
        payment_method_id: PaymentMethodId,
    ) -> ToolResult:  # fmt: skip
        """Exchange items of a delivered order for other variants of the same products. Needs confirmation.

        Possible once per order: collect every item first. The price difference is charged to or refunded
        on the given payment method; a gift card must cover a charge in full.
        """

        async def rule(scope: Scope) -> Change:
            order = await scope.order(order_id)
            if order.status != DELIVERED:
                raise invalid("Non-delivered order cannot be exchanged")
            plan = await plan_swaps(
                scope, order, item_ids, new_item_ids, payment_method_id, distinct=False,
                short_balance="Insufficient gift card balance to pay for the price difference",
            )  # fmt: skip
            diff, method = plan.difference, plan.method
            to = wording.method(method, payment_method_id)
            order.status = "exchange requested"
            order.exchange_items = sorted(item_ids)
            order.exchange_new_items = sorted(new_item_ids)
            order.exchange_payment_method_id = payment_method_id
            order.exchange_price_difference = diff
            changes = plan.describe()
            if diff > 0:
                settle = f"The price difference of {wording.usd(diff)} is charged to {to}."
            elif diff < 0:
                settle = f"The price difference of {wording.usd(-diff)} is refunded to {to} ({wording.timing(method)})."
            else:
                settle = "There is no price difference."
            return Change(
                summary=[f"Exchange items of order {order.id}:", *changes, settle, ONCE],
                document=shapes.order(order),
                message=(
                    f"The exchange for order {order.id} is requested; an email explains how to send the items back. "
                    + settle
                ),
            )

        arguments = {
            "order_id": order_id, "item_ids": item_ids, "new_item_ids": new_item_ids,
            "payment_method_id": payment_method_id,
        }  # fmt: skip
        return await access.write(ctx, "exchange_delivered_order_items", arguments, rule)

    return [exchange_delivered_order_items]
