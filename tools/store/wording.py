"""How store records read to a customer: amounts, payment methods, items, addresses, refund timing.

The timings repeat the shop's own help-centre pages (knowledge/docs/refunds.md, returns.md), so what
the assistant promises and what the articles say never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from tools.store.models import Customer, Order, PaymentMethod

GIFT_CARD_TIMING = "available right away"
CARD_TIMING = "5–7 business days to appear"
RETURN_INSPECTION = (
    "issued once our warehouse receives and inspects the return, usually within 3 business days of it arriving"
)
_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover"}


def usd(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def method(pm: PaymentMethod | None, payment_method_id: str) -> str:
    """'Visa ending 4242', 'gift card gift_card_1001001', 'PayPal account paypal_1001003'."""
    if pm is None:
        return payment_method_id  # a method since removed from the account
    if pm.source == "credit_card":
        brand = _BRANDS.get((pm.brand or "").lower(), (pm.brand or "card").title())
        return f"{brand} ending {pm.last_four}"
    if pm.source == "gift_card":
        return f"gift card {pm.id}"
    return f"PayPal account {pm.id}"


def timing(pm: PaymentMethod | None) -> str:
    """How soon a refund issued to `pm` can be used."""
    return GIFT_CARD_TIMING if pm is not None and pm.source == "gift_card" else CARD_TIMING


def after_issue(pm: PaymentMethod | None) -> str:
    """What happens once a later refund (a return's) is issued to `pm`."""
    if pm is not None and pm.source == "gift_card":
        return f"it is then {GIFT_CARD_TIMING}"
    return f"it then takes {CARD_TIMING}"


def item(name: str, options: Mapping[str, str]) -> str:
    """'Headphones (color: black, connectivity: wireless)'. Keys sorted: PostgreSQL's JSONB reorders them."""
    details = ", ".join(f"{key}: {options[key]}" for key in sorted(options))
    return f"{name} ({details})" if details else name


def items(order: Order, item_ids: list[str] | None = None) -> str:
    return "; ".join(labels(order, item_ids))


def labels(order: Order, item_ids: list[str] | None = None) -> list[str]:
    """The order's lines, or just those with the given ids (each id once per occurrence)."""
    wanted = list(item_ids) if item_ids is not None else None
    found = []
    for line in order.items:
        if wanted is not None:
            if line.item_id not in wanted:
                continue
            wanted.remove(line.item_id)
        found.append(item(line.name, line.options))
    return found


def address(row: Customer | Order) -> str:
    parts = [row.address1, row.address2, row.city, f"{row.state} {row.zip}".strip(), row.country]
    return ", ".join(part for part in parts if part)
