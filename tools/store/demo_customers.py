"""The demo shop's generated customers, each with a few orders in every status the rules care about.

Everything comes from the `random.Random` it is given, never the global generator, so a seed always
gives the same customers.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from tools.store.catalogue import Doc, _Ids, _line, _total
from tools.store.shapes import cents, money

# Dates are fixed, not "now", so a seed gives the same shop on any day.
DEMO_NOW = datetime(2026, 11, 23, 18, 0)
# How many days before DEMO_NOW an order in each status was placed, and how often each status occurs.
_STATUS_AGE = {
    "pending": (0, 3, 24), "pending (item modified)": (1, 4, 4), "processed": (2, 7, 15),
    "delivered": (8, 120, 36), "cancelled": (1, 90, 10), "return requested": (8, 30, 6),
    "exchange requested": (8, 30, 5),
}  # fmt: skip
_BRANDS = ("visa", "mastercard", "amex", "discover")
_CANCEL_REASONS = ("no longer needed", "ordered by mistake")


class _Shop:
    def __init__(self, seed: int, products: Doc) -> None:
        self.rng = random.Random(seed)
        self.ids = _Ids(self.rng)
        self.products = list(products.values())
        self.orders: list[Doc] = []
        self.placed: dict[str, datetime] = {}
        self.status_cycle = list(_STATUS_AGE)  # the first orders take each status once, so every status exists

    def customer(self) -> Doc:
        rng = self.rng
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        user_id = self.ids.digits(4, f"{first.lower()}_{last.lower()}_", low=2000)
        city, state, zip_prefix = rng.choice(_CITIES)
        address = {
            "address1": f"{rng.randint(1, 9999)} {rng.choice(_STREETS)}",
            "address2": rng.choice(("", "", f"Apt {rng.randint(1, 40)}", f"Suite {rng.randint(100, 999)}")),
            "city": city, "country": "USA", "state": state, "zip": f"{zip_prefix}{rng.randint(0, 99):02d}",
        }  # fmt: skip
        methods = {}
        for source in sorted(rng.sample(("credit_card", "gift_card", "paypal"), rng.randint(1, 3))):
            method_id = self.ids.digits(7, f"{source}_", low=2_000_000)
            method: Doc = {"source": source, "id": method_id}
            if source == "credit_card":
                method |= {"brand": rng.choice(_BRANDS), "last_four": f"{rng.randint(0, 9999):04d}"}
            elif source == "gift_card":
                method["balance"] = money(rng.randint(0, 30000) / 100)
            methods[method_id] = method
        user = {
            "user_id": user_id, "name": {"first_name": first, "last_name": last}, "address": address,
            "email": f"{first.lower()}.{last.lower()}{user_id[-4:]}@example.com", "payment_methods": methods,
            "orders": [],
        }  # fmt: skip
        plans = sorted((self._when(status), status) for status in self._statuses(rng.randint(1, 4)))
        for when, status in plans:  # oldest first: a customer's order list is newest last
            order = self.order(user, status)
            user["orders"].append(order["order_id"])
            self.placed[order["order_id"]] = when
        return user

    def _statuses(self, count: int) -> list[str]:
        statuses = list(_STATUS_AGE)
        weights = [weight for _low, _high, weight in _STATUS_AGE.values()]
        return [self.status_cycle.pop(0) if self.status_cycle else self.rng.choices(statuses, weights)[0]
                for _ in range(count)]  # fmt: skip

    def _when(self, status: str) -> datetime:
        low, high, _weight = _STATUS_AGE[status]
        return DEMO_NOW - timedelta(days=self.rng.randint(low, high), minutes=self.rng.randint(0, 24 * 60 - 1))

    def _pick_line(self) -> Doc:
        product = self.rng.choice(self.products)
        return _line(product, self.rng.choice(list(product["variants"].values())))

    def _other_variant(self, line: Doc) -> Doc | None:
        """An available variant of the line's product other than the one bought, for swaps and exchanges."""
        product = next(p for p in self.products if p["product_id"] == line["product_id"])
        others = [v for v in product["variants"].values() if v["available"] and v["item_id"] != line["item_id"]]
        return self.rng.choice(others) if others else None

    def order(self, user: Doc, status: str) -> Doc:
        rng = self.rng
        items = [self._pick_line() for _ in range(rng.choices((1, 2, 3, 4, 5), (40, 30, 15, 10, 5))[0])]
        method = rng.choice(list(user["payment_methods"]))
        order: Doc = {
            "order_id": self.ids.digits(7, "#W", low=2_000_000), "user_id": user["user_id"],
            "address": dict(user["address"]), "items": items, "status": status, "fulfillments": [],
            "payment_history": [{"transaction_type": "payment", "amount": _total(items), "payment_method_id": method}],
        }  # fmt: skip
        if status in ("processed", "delivered", "return requested", "exchange requested"):
            order["fulfillments"] = self._fulfillments(items)
        if status == "cancelled":
            order["cancel_reason"] = rng.choice(_CANCEL_REASONS)
            order["payment_history"].append({**order["payment_history"][0], "transaction_type": "refund"})
        elif status == "pending (item modified)":
            self._modify(order)
        elif status == "return requested":
            returned = rng.sample(items, rng.randint(1, len(items)))
            gift_cards = [m for m in user["payment_methods"] if m.startswith("gift_card")]
            order["return_items"] = sorted(i["item_id"] for i in returned)
            order["return_payment_method_id"] = rng.choice([method, *gift_cards])
        elif status == "exchange requested":
            self._exchange(order, method)
        self.orders.append(order)
        return order

    def _fulfillments(self, items: list[Doc]) -> list[Doc]:
        # Now and then a multi-item order ships in two parcels.
        split = self.rng.randint(1, len(items) - 1) if len(items) > 1 and self.rng.random() < 0.2 else len(items)
        parcels = [items[:split], items[split:]] if split < len(items) else [items]
        return [{"tracking_id": [self.ids.digits(12)], "item_ids": [i["item_id"] for i in parcel]}
                for parcel in parcels]  # fmt: skip

    def _modify(self, order: Doc) -> None:
        """A pending order whose item was swapped: the price difference is charged or refunded."""
        index = self.rng.randrange(len(order["items"]))
        old = order["items"][index]
        new = self._other_variant(old)
        if new is None:
            order["status"] = "pending"
            return
        order["items"][index] = _line({"name": old["name"], "product_id": old["product_id"]}, new)
        difference = cents(new["price"]) - cents(old["price"])
        if difference:
            order["payment_history"].append({
                "transaction_type": "payment" if difference > 0 else "refund", "amount": money(abs(difference)),
                "payment_method_id": order["payment_history"][0]["payment_method_id"],
            })  # fmt: skip

    def _exchange(self, order: Doc, method: str) -> None:
        swaps = [(line, new) for line in order["items"] if (new := self._other_variant(line)) is not None]
        if not swaps:
            order["status"] = "delivered"
            return
        swaps = self.rng.sample(swaps, self.rng.randint(1, len(swaps)))
        difference = sum((cents(new["price"]) - cents(line["price"]) for line, new in swaps), Decimal("0"))
        order["exchange_items"] = sorted(line["item_id"] for line, _new in swaps)
        order["exchange_new_items"] = sorted(new["item_id"] for _line, new in swaps)
        order["exchange_payment_method_id"] = method
        order["exchange_price_difference"] = money(difference)


# --- data: our own name lists (nothing here comes from τ-bench)

_FIRST_NAMES = (
    "Amara", "Ben", "Carmen", "Dmitri", "Elena", "Felix", "Grace", "Hiro", "Imani", "Jonah", "Keiko", "Luca",
    "Maya", "Nikhil", "Olivia", "Pablo", "Quinn", "Rosa", "Samir", "Tessa", "Umar", "Vera", "Wes", "Ximena",
    "Yusuf", "Zoe", "Aiden", "Bianca", "Caleb", "Daria", "Emeka", "Farah", "Gideon", "Hana", "Isaac", "Jade",
    "Kofi", "Lena", "Mateo", "Nora", "Owen", "Priya", "Rafael", "Sofia", "Theo", "Uma", "Victor", "Wren",
)  # fmt: skip
_LAST_NAMES = (
    "Abbott", "Bauer", "Castillo", "Donovan", "Eriksen", "Fischer", "Gallagher", "Hayashi", "Iyer", "Jensen",
    "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quintero", "Rahman", "Sandoval",
    "Thornton", "Ueda", "Vasquez", "Whitaker", "Xu", "Yamada", "Zimmerman", "Alvarez", "Brennan", "Chen",
    "Delgado", "Ellison", "Foster", "Greene", "Holloway", "Ivanova", "Kaur", "Mendes", "Novak", "Osei", "Park",
)  # fmt: skip
_STREETS = (
    "Maple Avenue", "Cedar Street", "Willow Way", "Harbor View Road", "Elm Court", "Sycamore Drive", "Juniper Lane",
    "Prospect Street", "Orchard Road", "Birch Boulevard", "Hillcrest Avenue", "Riverbend Drive", "Aspen Circle",
    "Magnolia Street", "Foxglove Terrace", "Chestnut Place", "Meadowlark Lane", "Bayberry Road", "Quarry Street",
    "Linden Avenue",
)  # fmt: skip
# (city, state, first three digits of its zip codes)
_CITIES = (
    ("Portland", "OR", "972"), ("Seattle", "WA", "981"), ("Boise", "ID", "837"), ("Sacramento", "CA", "958"),
    ("Oakland", "CA", "946"), ("San Diego", "CA", "921"), ("Phoenix", "AZ", "850"), ("Denver", "CO", "802"),
    ("Austin", "TX", "787"), ("Houston", "TX", "770"), ("Minneapolis", "MN", "554"), ("Chicago", "IL", "606"),
    ("Madison", "WI", "537"), ("Detroit", "MI", "482"), ("Columbus", "OH", "432"), ("Nashville", "TN", "372"),
    ("Atlanta", "GA", "303"), ("Raleigh", "NC", "276"), ("Richmond", "VA", "232"), ("Philadelphia", "PA", "191"),
    ("Brooklyn", "NY", "112"), ("Boston", "MA", "021"), ("Providence", "RI", "029"), ("Burlington", "VT", "054"),
    ("Miami", "FL", "331"),
)  # fmt: skip
