"""τ-bench retail rules shared by several write tools: item lists, variant swaps, money moves.

Amounts are Decimal cents throughout; `shapes` turns them into τ-bench's floats only on the way out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from tools.errors import ToolFailure
from tools.store import wording
from tools.store.access import Scope
from tools.store.models import Customer, Order, OrderItem, Payment, PaymentMethod, Variant
from tools.store.shapes import cents

ZERO = Decimal("0.00")


def invalid(message: str) -> ToolFailure:
    return ToolFailure("invalid", message)


def check_counts(order: Order, item_ids: list[str]) -> None:
    """Each id may be named as often as the order holds it, no more (duplicates are units)."""
    held = [line.item_id for line in order.items]
    for item_id in item_ids:
        wanted = item_ids.count(item_id)
        if wanted > held.count(item_id):
            times = "" if wanted == 1 else f" {wanted} times"
            raise invalid(f"Item {item_id} not found{times} in order {order.id}.")


def price_of(lines: Iterable[OrderItem]) -> Decimal:
    """What the lines cost together, in cents."""
    return cents(sum((cents(line.price) for line in lines), ZERO))


def lines_for(order: Order, item_ids: list[str]) -> list[OrderItem]:
    """The order line of each id, every line used once, so duplicated ids map one-to-one. Counts checked."""
    free = list(order.items)
    chosen = []
    for item_id in item_ids:
        line = next(line for line in free if line.item_id == item_id)
        free.remove(line)
        chosen.append(line)
    return chosen


@dataclass(frozen=True)
class Swap:
    line: OrderItem
    variant: Variant

    @property
    def difference(self) -> Decimal:
        return cents(self.variant.price) - cents(self.line.price)

    def describe(self) -> str:
        """'Shirt (size: M) ($19.99) → Shirt (size: L) ($21.49).' Call before the line is changed."""
        old = f"{wording.item(self.line.name, self.line.options)} ({wording.usd(cents(self.line.price))})"
        new = f"{wording.item(self.line.name, self.variant.options)} ({wording.usd(cents(self.variant.price))})"
        return f"{old} → {new}."


async def swaps(
    scope: Scope, order: Order, item_ids: list[str], new_item_ids: list[str], *, distinct: bool
) -> list[Swap]:
    """Old line → new variant of the same product, available. `distinct`: a pending order's change must change."""
    check_counts(order, item_ids)
    if len(item_ids) != len(new_item_ids):
        raise invalid("The number of items to be exchanged should match.")
    pairs = []
    for line, new_id in zip(lines_for(order, item_ids), new_item_ids, strict=True):
        if distinct and line.item_id == new_id:
            raise invalid("The new item id should be different from the old item id")
        variant = await scope.session.get(Variant, new_id)
        if variant is None or variant.product_id != line.product_id or not variant.available:
            raise invalid(f"New item {new_id} not found or available")
        pairs.append(Swap(line, variant))
    return pairs


def difference(pairs: list[Swap]) -> Decimal:
    """What the new variants cost more (+) or less (−) than the old lines, in cents."""
    return cents(sum((pair.difference for pair in pairs), ZERO))


@dataclass(frozen=True)
class SwapPlan:
    """A checked item change: the swaps, their price difference and the method that settles it."""

    pairs: list[Swap]
    difference: Decimal
    method: PaymentMethod

    def describe(self) -> list[str]:
        return [pair.describe() for pair in self.pairs]


async def plan_swaps(
    scope: Scope, order: Order, item_ids: list[str], new_item_ids: list[str], payment_method_id: str, *,
    distinct: bool, short_balance: str,
) -> SwapPlan:  # fmt: skip
    """τ-bench's checks for modify-items and exchange, in its order: items, variants, method, gift-card balance."""
    pairs = await swaps(scope, order, item_ids, new_item_ids, distinct=distinct)
    diff = difference(pairs)
    method = await scope.payment_method(payment_method_id)
    check_balance(method, diff, short_balance)
    return SwapPlan(pairs, diff, method)


def readdress(row: Customer | Order, fields: dict[str, str]) -> tuple[str, str]:
    """Replace the address of a customer or an order; returns the old and the new one as text."""
    before = wording.address(row)
    for name, value in fields.items():
        setattr(row, name, value)
    return before, wording.address(row)


def is_gift_card(pm: PaymentMethod | None) -> bool:
    return pm is not None and pm.source == "gift_card"


def check_balance(pm: PaymentMethod, amount: Decimal, message: str) -> None:
    if is_gift_card(pm) and cents(pm.balance or 0) < amount:
        raise invalid(message)


def record(order: Order, transaction_type: str, amount: Decimal, payment_method_id: str) -> None:
    order.payments.append(
        Payment(
            position=len(order.payments), transaction_type=transaction_type, amount=cents(amount),
            payment_method_id=payment_method_id,
        )
    )  # fmt: skip


@dataclass(frozen=True)
class Movement:
    """Money into (+, a refund) or out of (−, a charge) one of the customer's payment methods."""

    method_id: str
    method: PaymentMethod | None
    amount: Decimal
    balance_before: Decimal | None = None
    balance_after: Decimal | None = None

    @property
    def refund(self) -> bool:
        return self.amount >= 0

    def describe(self) -> str:
        name = wording.method(self.method, self.method_id)
        if self.balance_before is None or self.balance_after is None:
            return name
        return f"{name} (balance {wording.usd(self.balance_before)} → {wording.usd(self.balance_after)})"

    def line(self) -> str:
        """For the confirmation card."""
        if self.refund:
            return f"Refund {wording.usd(self.amount)} to {self.describe()}: {wording.timing(self.method)}."
        return f"Charge {wording.usd(-self.amount)} to {self.describe()}."

    def sentence(self) -> str:
        """For the reply once applied."""
        name = wording.method(self.method, self.method_id)
        if self.balance_after is not None:
            verb = "refunded to" if self.refund else "charged to"
            return (
                f"{wording.usd(abs(self.amount))} is {verb} your gift card ({self.method_id})"
                f"{' right away' if self.refund else ''}; its balance is now {wording.usd(self.balance_after)}."
            )
        if self.refund:
            return f"{wording.usd(self.amount)} is refunded to your {name}; it takes {wording.CARD_TIMING}."
        return f"{wording.usd(-self.amount)} is charged to your {name}."


def move(pm: PaymentMethod | None, payment_method_id: str, amount: Decimal) -> Movement:
    """Refund (+) or charge (−) a method. A gift card's balance changes now; cards settle with the bank."""
    if pm is None or pm.source != "gift_card":
        return Movement(payment_method_id, pm, cents(amount))
    before = cents(pm.balance or 0)
    pm.balance = cents(before + amount)
    return Movement(payment_method_id, pm, cents(amount), before, pm.balance)
