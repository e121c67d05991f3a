"""Orders: details, the customer's order list, tracking, and τ-bench's changes to pending orders."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from sqlalchemy import func, select

from tools.base import Tool, ToolContext, ToolResult, tool
from tools.store import shapes, wording
from tools.store.access import Change, Scope, StoreAccess
from tools.store.models import Order
from tools.store.params import (
    Address1, Address2, City, Country, ItemIds, NewItemIds, OrderId, PaymentMethodId, State, Zip,
)  # fmt: skip
from tools.store.rules import check_balance, invalid, move, plan_swaps, price_of, readdress, record
from tools.store.shapes import cents

CANCEL_REASONS = ("no longer needed", "ordered by mistake")
MAX_LISTED_ORDERS = 20  # a chat reply can't usefully show more; the count says how many exist
PENDING = "pending"
PROCESSING_TIME = "Orders are usually processed within 1 business day, and a tracking number is emailed when they ship."

CancelReason = Annotated[
    str, Field(max_length=64, description="Why: either 'no longer needed' or 'ordered by mistake'")
]


def order_tools(access: StoreAccess) -> list[Tool]:
    return [*_reads(access), *_changes(access)]


def _reads(access: StoreAccess) -> list[Tool]:
    @tool(backend="store")
    async def get_order_details(ctx: ToolContext, order_id: OrderId) -> ToolResult:
        """Get the status and details of one of the identified customer's orders."""
        async with access.reading(ctx) as scope:
            return ToolResult.success(shapes.order(await scope.order(order_id)))

    @tool(backend="store")
    async def list_my_orders(ctx: ToolContext) -> ToolResult:
        """List the identified customer's orders, newest first: id, status, date, item names and total."""
        async with access.reading(ctx) as scope:
            mine = Order.customer_id == scope.customer_id
            count = await scope.session.scalar(select(func.count()).select_from(Order).where(mine))
            orders = list(await scope.session.scalars(
                select(Order).where(mine)
                .order_by(Order.placed_at.is_(None), Order.placed_at.desc(), Order.position.desc())
                .limit(MAX_LISTED_ORDERS)
            ))  # fmt: skip
            listed = [
                {
                    "order_id": order.id,
                    "status": order.status,
                    "placed": order.placed_at.date().isoformat() if order.placed_at else None,
                    "items": [line.name for line in order.items],
                    "total": shapes.money(price_of(order.items)),
                }
                for order in orders
            ]
            shown = f"the {len(listed)} most recent of " if len(listed) < (count or 0) else ""
            return ToolResult.success(listed, message=f"Showing {shown}{count} orders.")

    @tool(backend="store")
    async def track_order(ctx: ToolContext, order_id: OrderId) -> ToolResult:
        """Tracking numbers of an order's packages and which items each holds."""
        async with access.reading(ctx) as scope:
            return _tracking(await scope.order(order_id))

    return [get_order_details, list_my_orders, track_order]


def _tracking(order: Order) -> ToolResult:
    names = {line.item_id: wording.item(line.name, line.options) for line in order.items}
    packages = [
        {"tracking_ids": list(f.tracking_ids), "items": [names.get(i, i) for i in f.item_ids]}
        for f in order.fulfillments
    ]
    shipped = {item_id for f in order.fulfillments for item_id in f.item_ids}
    waiting = [label for item_id, label in names.items() if item_id not in shipped]
    data = {"order_id": order.id, "status": order.status, "packages": packages, "not_shipped": waiting}
    if packages:
        lines = [f"tracking {', '.join(p['tracking_ids'])}: {'; '.join(p['items'])}" for p in packages]
        message = f"Order {order.id} ({order.status}) shipped in {len(packages)} package(s): " + " | ".join(lines)
    else:
        message = (
            f"Nothing from order {order.id} has shipped yet (status: {order.status}), so there is no tracking number."
        )
        if order.status == "cancelled":
            message += " The order was cancelled, so nothing will ship."
        elif PENDING in order.status:
            message += " " + PROCESSING_TIME
    return ToolResult.success(data, message=message)


def _changes(access: StoreAccess) -> list[Tool]:
    return [*_cancel(access), *_address(access), *_payment(access), *_items(access)]


def _cancel(access: StoreAccess) -> list[Tool]:
    @tool(backend="store", writes=True, acts_on="order_id")
    async def cancel_pending_order(ctx: ToolContext, order_id: OrderId, reason: CancelReason) -> ToolResult:
        """Cancel a pending order and refund every payment to its method. Needs the customer's confirmation.

        Gift-card refunds are immediate; card and PayPal refunds take 5-7 business days.
        """

        async def rule(scope: Scope) -> Change:
            order = await scope.order(order_id)
            if order.status != PENDING:
                raise invalid("Non-pending order cannot be cancelled")
            if reason not in CANCEL_REASONS:
                raise invalid("Invalid reason: it must be 'no longer needed' or 'ordered by mistake'")
            methods = await scope.payment_methods()
            refunds = []
            for payment in list(order.payments):
                record(order, "refund", payment.amount, payment.payment_method_id)
                refunds.append(move(methods.get(payment.payment_method_id), payment.payment_method_id, payment.amount))
            order.status, order.cancel_reason = "cancelled", reason
            return Change(
                summary=[f"Cancel order {order.id}: {wording.items(order)}.", f"Reason: {reason}."]
                + [refund.line() for refund in refunds],
                document=shapes.order(order),
                message=" ".join([f"Order {order.id} is cancelled.", *(refund.sentence() for refund in refunds)]),
            )

        return await access.write(ctx, "cancel_pending_order", {"order_id": order_id, "reason": reason}, rule)

    return [cancel_pending_order]


def _address(access: StoreAccess) -> list[Tool]:
    @tool(backend="store", writes=True, acts_on="order_id")
    async def modify_pending_order_address(
        ctx: ToolContext, order_id: OrderId, address1: Address1, address2: Address2, city: City, state: State,
        country: Country, zip: Zip,
    ) -> ToolResult:  # fmt: skip
        """Change the shipping address of a pending order. Needs the customer's confirmation."""
        fields = dict(address1=address1, address2=address2, city=city, state=state, country=country, zip=zip)

        async def rule(scope: Scope) -> Change:
            order = await scope.order(order_id)
            if PENDING not in order.status:
                raise invalid("Non-pending order cannot be modified")
            before, after = readdress(order, fields)
            return Change(
                summary=[
                    f"Ship order {order.id} to a new address.", f"Current address: {before}.", f"New address: {after}.",
                ],
                document=shapes.order(order),
                message=f"Order {order.id} will now ship to {after}.",
            )

        arguments = {"order_id": order_id, **fields}
        return await access.write(ctx, "modify_pending_order_address", arguments, rule)

    return [modify_pending_order_address]


def _payment(access: StoreAccess) -> list[Tool]:
    @tool(backend="store", writes=True, acts_on="order_id")
    async def modify_pending_order_payment(
        ctx: ToolContext, order_id: OrderId, payment_method_id: PaymentMethodId
    ) -> ToolResult:
        """Pay a pending order with another of the customer's payment methods. Needs the customer's confirmation.

        The new method is charged the order total and the old one refunded.
        """

        async def rule(scope: Scope) -> Change:
            order = await scope.order(order_id)
            if PENDING not in order.status:
                raise invalid("Non-pending order cannot be modified")
            new_method = await scope.payment_method(payment_method_id)
            if len(order.payments) != 1 or order.payments[0].transaction_type != "payment":
                raise invalid("There should be exactly one payment for a pending order")
            old_id, amount = order.payments[0].payment_method_id, cents(order.payments[0].amount)
            if old_id == payment_method_id:
                raise invalid("The new payment method should be different from the current one")
            check_balance(new_method, amount, "Insufficient gift card balance to pay for the order")
            record(order, "payment", amount, payment_method_id)
            record(order, "refund", amount, old_id)
            charge = move(new_method, payment_method_id, -amount)
            refund = move((await scope.payment_methods()).get(old_id), old_id, amount)
            paid_with = wording.method(new_method, payment_method_id)
            return Change(
                summary=[f"Pay order {order.id} ({wording.usd(amount)}) with {paid_with}.", charge.line(),
                         refund.line()],
                document=shapes.order(order),
                message=" ".join([f"Order {order.id} is now paid with {paid_with}.", charge.sentence(),
                                  refund.sentence()]),
            )  # fmt: skip

        arguments = {"order_id": order_id, "payment_method_id": payment_method_id}
        return await access.write(ctx, "modify_pending_order_payment", arguments, rule)

    return [modify_pending_order_payment]


def _items(access: StoreAccess) -> list[Tool]:
    @tool(backend="store", writes=True, acts_on="order_id")
    async def modify_pending_order_items(
        ctx: ToolContext, order_id: OrderId, item_ids: ItemIds, new_item_ids: NewItemIds,
        payment_method_id: PaymentMethodId,
    ) -> ToolResult:  # fmt: skip
        """Swap items of a pending order for other variants of the same products. Needs the customer's confirmation.

        Possible once per order: collect every change first. The price difference is charged to or refunded
        on the given payment method; a gift card must cover a charge in full.
        """

        async def rule(scope: Scope) -> Change:
            order = await scope.order(order_id)
            if order.status != PENDING:
                raise invalid("Non-pending order cannot be modified")
            plan = await plan_swaps(
                scope, order, item_ids, new_item_ids, payment_method_id, distinct=True,
                short_balance="Insufficient gift card balance to pay for the new item",
            )  # fmt: skip
            diff = plan.difference
            record(order, "payment" if diff > 0 else "refund", abs(diff), payment_method_id)
            movement = move(plan.method, payment_method_id, -diff)
            changes = plan.describe()
            for pair in plan.pairs:
                line, variant = pair.line, pair.variant
                line.item_id, line.price, line.options = variant.id, cents(variant.price), dict(variant.options)
            order.status = "pending (item modified)"
            settle = movement.line() if diff else "No price difference."
            return Change(
                summary=[f"Change items of order {order.id}:", *changes, settle,
                         "The order's items cannot be changed again afterwards."],
                document=shapes.order(order),
                message=" ".join([f"The items of order {order.id} are changed.",
                                  movement.sentence() if diff else "There is no price difference."]),
            )  # fmt: skip

        arguments = {
            "order_id": order_id, "item_ids": item_ids, "new_item_ids": new_item_ids,
            "payment_method_id": payment_method_id,
        }  # fmt: skip
        return await access.write(ctx, "modify_pending_order_items", arguments, rule)

    return [modify_pending_order_items]
