"""The demo shop: our own catalogue, a fixed demo customer, and a few hundred generated customers and orders.

Everything comes from `random.Random` instances, never the global generator, so a seed always gives
the same shop. The catalogue and the demo customer (dana@example.com) never depend on the seed: docs,
browser tests and the tools CLI name her orders and payment methods.
"""

from __future__ import annotations

import itertools
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import false, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from tools.settings import ToolConfig
from tools.store.db import StoreDatabase
from tools.store.models import Customer
from tools.store.shapes import cents, money
from tools.store.taubench import ImportReport, rows_of, wipe, write_rows

log = logging.getLogger("tools.store")
Doc = dict[str, Any]
DANA_ID = "dana_whitfield_1001"
DANA_EMAIL = "dana@example.com"
# Dates are fixed, not "now", so a seed gives the same shop on any day.
DEMO_NOW = datetime(2026, 11, 23, 18, 0)
_CATALOGUE_SEED = 5151
# Seeding holds this PostgreSQL lock, so instances starting together seed once.
_SEED_LOCK = 0x5707_5EED
# How many days before DEMO_NOW an order in each status was placed, and how often each status occurs.
_STATUS_AGE = {
    "pending": (0, 3, 24), "pending (item modified)": (1, 4, 4), "processed": (2, 7, 15),
    "delivered": (8, 120, 36), "cancelled": (1, 90, 10), "return requested": (8, 30, 6),
    "exchange requested": (8, 30, 5),
}  # fmt: skip
_BRANDS = ("visa", "mastercard", "amex", "discover")
_CANCEL_REASONS = ("no longer needed", "ordered by mistake")


@dataclass(frozen=True)
class SeedReport(ImportReport):
    seed: int


class _Ids:
    """Unique random ids of a fixed width. Generated ones start above Dana's hand-picked 1001... ids."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def digits(self, width: int, prefix: str = "", low: int = 0) -> str:
        while True:
            candidate = f"{prefix}{self.rng.randrange(max(low, 10 ** (width - 1)), 10**width)}"
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate


# --- catalogue


def catalogue() -> Doc:
    """Our products, each with several variants; a few variants are sold out. Same every time."""
    rng = random.Random(_CATALOGUE_SEED)
    ids = _Ids(rng)
    products: Doc = {}
    for name, axes, (low, high), pinned in _PRODUCTS:
        combos = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
        rng.shuffle(combos)
        chosen = [dict(p) for p in pinned] + [c for c in combos if c not in pinned]
        chosen = chosen[: min(len(chosen), rng.randint(4, 10))]
        base, variants = rng.uniform(low, high), {}
        for number, options in enumerate(chosen):
            item_id = ids.digits(10)
            # Pinned and the first two variants stay on sale, so every product can be exchanged.
            available = number < max(2, len(pinned)) or rng.random() > 0.2
            price = money(base * rng.uniform(0.9, 1.12))
            variants[item_id] = {"item_id": item_id, "options": options, "available": available, "price": price}
        product_id = ids.digits(10)
        products[product_id] = {"name": name, "product_id": product_id, "variants": variants}
    return products


def _by_name(products: Doc) -> dict[str, Doc]:
    return {product["name"]: product for product in products.values()}


def _variant(product: Doc, **options: str) -> Doc:
    """The first variant of `product` whose options include `options`."""
    return next(v for v in product["variants"].values() if options.items() <= v["options"].items())


def _line(product: Doc, variant: Doc) -> Doc:
    return {
        "name": product["name"], "product_id": product["product_id"], "item_id": variant["item_id"],
        "price": variant["price"], "options": dict(variant["options"]),
    }  # fmt: skip


def _total(items: list[Doc]) -> float:
    return money(sum((cents(item["price"]) for item in items), Decimal("0")))


# --- the demo customer


def _dana(products: Doc) -> tuple[Doc, list[Doc], dict[str, datetime]]:
    named = _by_name(products)
    address = {
        "address1": "12 Larkspur Lane", "address2": "Apt 4", "city": "Portland", "country": "USA",
        "state": "OR", "zip": "97205",
    }  # fmt: skip
    user = {
        "user_id": DANA_ID, "name": {"first_name": "Dana", "last_name": "Whitfield"}, "address": address,
        "email": DANA_EMAIL,
        "payment_methods": {
            "gift_card_1001001": {"source": "gift_card", "id": "gift_card_1001001", "balance": 150.0},
            "credit_card_1001002": {
                "source": "credit_card", "id": "credit_card_1001002", "brand": "visa", "last_four": "4242",
            },
            "paypal_1001003": {"source": "paypal", "id": "paypal_1001003"},
        },
        "orders": [],
    }  # fmt: skip
    plans = [
        ("#W1001001", "delivered", "credit_card_1001002", "284716395028", datetime(2026, 11, 5, 14, 12), [
            _line(named["Headphones"], _variant(named["Headphones"], color="black", connectivity="wireless")),
            _line(named["Mechanical Keyboard"], _variant(named["Mechanical Keyboard"])),
        ]),
        ("#W1001002", "processed", "paypal_1001003", "573920184637", datetime(2026, 11, 19, 9, 40), [
            _line(named["Backpack"], _variant(named["Backpack"])),
        ]),
        ("#W1001003", "pending", "gift_card_1001001", None, datetime(2026, 11, 22, 20, 5), [
            _line(named["Water Bottle"], _variant(named["Water Bottle"])),
            _line(named["Desk Lamp"], _variant(named["Desk Lamp"])),
        ]),
        ("#W1001004", "pending", "credit_card_1001002", None, datetime(2026, 11, 23, 8, 30), [
            _line(named["Hoodie"], _variant(named["Hoodie"], size="M")),
        ]),
    ]  # fmt: skip
    orders, placed = [], {}
    for order_id, status, method, tracking, when, items in plans:
        fulfillments = [{"tracking_id": [tracking], "item_ids": [i["item_id"] for i in items]}] if tracking else []
        orders.append({
            "order_id": order_id, "user_id": DANA_ID, "address": dict(address), "items": items,
            "status": status, "fulfillments": fulfillments,
            "payment_history": [{"transaction_type": "payment", "amount": _total(items), "payment_method_id": method}],
        })  # fmt: skip
        user["orders"].append(order_id)
        placed[order_id] = when
    return user, orders, placed


# --- generated customers


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


def build_demo(customers: int, seed: int) -> tuple[Doc, dict[str, datetime]]:
    """The demo shop as a τ-bench document, and when each order was placed. `customers` counts Dana."""
    products = catalogue()
    dana, dana_orders, placed = _dana(products)
    shop = _Shop(seed, products)
    users = {dana["user_id"]: dana}
    for _ in range(max(customers, 1) - 1):
        user = shop.customer()
        users[user["user_id"]] = user
    orders = {order["order_id"]: order for order in [*dana_orders, *shop.orders]}
    return {"users": users, "orders": orders, "products": products}, placed | shop.placed


# --- writing


async def _write_demo(session: AsyncSession, customers: int, seed: int) -> SeedReport:
    doc, placed = build_demo(customers, seed)
    rows = rows_of(doc)
    for order in rows.orders:
        order["placed_at"] = placed[order["id"]]
    await wipe(session)
    report = await write_rows(session, rows)
    return SeedReport(**vars(report), seed=seed)


async def seed_demo(db: StoreDatabase, customers: int, seed: int) -> SeedReport:
    """Replace the shop's records with the demo shop for `seed`."""
    async with db.session() as session:
        return await _write_demo(session, customers, seed)


async def _no_customers(session: AsyncSession) -> bool:
    return not await session.scalar(select(func.count()).select_from(Customer))


async def is_empty(db: StoreDatabase) -> bool:
    """True when the store has no customers (products alone do not make a shop)."""
    async with db.read() as session:
        return await _no_customers(session)


async def ensure_seeded(db: StoreDatabase, settings: ToolConfig) -> bool:
    """Seed the demo shop if the store has no customers; True if this call seeded it.

    On PostgreSQL an advisory lock makes instances starting together seed once: the second one waits,
    then sees the customers. On SQLite the loser of a race fails to write (a stale snapshot or a key
    conflict); with customers there by then, that reads as "someone else seeded".
    """
    try:
        async with db.session() as session:
            if db.engine.dialect.name == "postgresql":
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEED_LOCK})
            else:  # a write that changes nothing takes SQLite's write lock before we look
                await session.execute(update(Customer).where(false()).values(id=Customer.id))
            if not await _no_customers(session):
                return False
            report = await _write_demo(session, settings.store.seed_customers, settings.store.seed_random_seed)
        log.info("seeded the demo shop: %d customers, %d orders, seed %d", report.customers, report.orders, report.seed)
        return True
    except DBAPIError:
        if await is_empty(db):
            raise
        return False


# --- data: our own catalogue and name lists (nothing here comes from τ-bench)

_COLORS = ("black", "white", "navy", "sage", "rust", "sand")
_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
_SHOE_SIZES = ("7", "8", "9", "10", "11", "12")
# (name, option axes, price range in dollars, variants that must exist: the demo customer bought them)
_PRODUCTS: list[tuple[str, dict[str, tuple[str, ...]], tuple[float, float], tuple[dict[str, str], ...]]] = [
    ("Headphones", {"type": ("over-ear", "on-ear", "in-ear"), "connectivity": ("wireless", "wired"),
                    "color": ("black", "white", "navy", "sand")}, (49, 329),
     ({"type": "over-ear", "connectivity": "wireless", "color": "black"},)),
    ("Mechanical Keyboard", {"switch type": ("linear", "tactile", "clicky"),
                             "layout": ("full size", "tenkeyless", "75%"), "backlight": ("none", "white", "RGB")},
     (79, 249), ({"switch type": "tactile", "layout": "tenkeyless", "backlight": "white"},)),
    ("Water Bottle", {"capacity": ("500ml", "750ml", "1000ml"), "material": ("stainless steel", "glass", "tritan"),
                      "color": ("sage", "black", "coral", "white")}, (14, 49),
     ({"capacity": "750ml", "material": "stainless steel", "color": "sage"},)),
    ("Desk Lamp", {"color": ("black", "brass", "white"), "brightness": ("low", "medium", "high"),
                   "power source": ("USB", "plug-in", "battery")}, (25, 140),
     ({"color": "brass", "brightness": "medium", "power source": "plug-in"},)),
    ("Hoodie", {"size": _SIZES, "color": ("heather grey", "forest green", "black", "rust"),
                "material": ("cotton", "fleece")}, (39, 89),
     ({"size": "M", "color": "forest green", "material": "fleece"},)),
    ("Backpack", {"capacity": ("18L", "24L", "30L"), "color": ("charcoal", "olive", "navy", "mustard"),
                  "material": ("canvas", "nylon", "recycled polyester")}, (45, 160),
     ({"capacity": "24L", "color": "olive", "material": "canvas"},)),
    ("Running Shoes", {"size": _SHOE_SIZES, "color": ("black", "white", "volt", "blue"), "sole": ("road", "trail")},
     (70, 180), ()),
    ("Yoga Mat", {"thickness": ("4mm", "6mm", "8mm"), "material": ("natural rubber", "TPE", "cork"),
                  "color": ("sage", "plum", "slate")}, (20, 95), ()),
    ("Coffee Grinder", {"burr": ("conical", "flat"), "hopper capacity": ("150g", "250g"),
                        "color": ("black", "white", "copper")}, (35, 280), ()),
    ("French Press", {"capacity": ("350ml", "600ml", "1000ml"), "material": ("glass", "stainless steel")},
     (18, 65), ()),
    ("Smart Thermostat", {"system": ("single stage", "multi stage", "heat pump"),
                          "color": ("white", "black", "silver")}, (99, 249), ()),
    ("Air Purifier", {"room size": ("small", "medium", "large"), "filter": ("HEPA", "HEPA + carbon"),
                      "color": ("white", "graphite")}, (89, 399), ()),
    ("Electric Toothbrush", {"cleaning modes": ("2", "3", "5"), "color": ("white", "black", "pink", "teal"),
                             "battery life": ("2 weeks", "4 weeks")}, (29, 149), ()),
    ("Cast Iron Skillet", {"diameter": ("8 inch", "10 inch", "12 inch"), "finish": ("pre-seasoned", "enamel")},
     (22, 110), ()),
    ("Chef's Knife", {"blade length": ("6 inch", "8 inch", "10 inch"),
                      "steel": ("German stainless", "VG-10", "carbon"), "handle": ("walnut", "resin", "pakkawood")},
     (35, 220), ()),
    ("Wool Socks", {"size": ("S", "M", "L"), "cushion": ("light", "mid", "heavy"), "color": _COLORS}, (12, 28), ()),
    ("Rain Jacket", {"size": _SIZES, "color": ("yellow", "navy", "black", "olive"), "fit": ("regular", "relaxed")},
     (59, 210), ()),
    ("Sunglasses", {"frame": ("acetate", "metal"), "lens": ("polarized", "non-polarized"),
                    "color": ("tortoise", "black", "gold", "clear")}, (25, 180), ()),
    ("Wall Clock", {"diameter": ("10 inch", "12 inch", "14 inch"), "style": ("modern", "farmhouse", "minimalist"),
                    "color": ("black", "white", "oak")}, (19, 85), ()),
    ("Throw Blanket", {"size": ("50x60 inch", "60x80 inch"), "material": ("cotton", "wool", "sherpa"),
                       "color": ("oatmeal", "rust", "charcoal", "sage")}, (29, 140), ()),
    ("Pillow", {"firmness": ("soft", "medium", "firm"), "fill": ("down alternative", "memory foam", "buckwheat"),
                "size": ("standard", "queen", "king")}, (24, 120), ()),
    ("Portable Speaker", {"color": ("black", "red", "blue", "sand"), "waterproof": ("yes", "no"),
                          "battery life": ("10 hours", "20 hours")}, (39, 199), ()),
    ("Fitness Tracker", {"color": ("black", "rose", "blue"), "band": ("silicone", "woven", "leather"),
                         "screen": ("AMOLED", "LCD")}, (49, 179), ()),
    ("Smartwatch", {"case size": ("40mm", "44mm"), "color": ("midnight", "silver", "starlight"),
                    "connectivity": ("GPS", "GPS + cellular")}, (199, 499), ()),
    ("E-Reader", {"storage": ("8GB", "16GB", "32GB"), "screen size": ("6 inch", "7 inch"),
                  "color": ("black", "denim", "jade")}, (99, 279), ()),
    ("Tablet Stand", {"material": ("aluminum", "bamboo", "plastic"), "color": ("silver", "black", "natural")},
     (15, 70), ()),
    ("USB-C Hub", {"ports": ("4-in-1", "7-in-1", "10-in-1"), "color": ("space grey", "silver")}, (19, 99), ()),
    ("Power Bank", {"capacity": ("10000mAh", "20000mAh", "26800mAh"), "color": ("black", "white"),
                    "output": ("18W", "45W", "65W")}, (19, 129), ()),
    ("Webcam", {"resolution": ("720p", "1080p", "4K"), "field of view": ("78 degrees", "90 degrees"),
                "mount": ("clip", "tripod")}, (29, 199), ()),
    ("Monitor Arm", {"type": ("single", "dual"), "max weight": ("8kg", "12kg"), "color": ("black", "white")},
     (39, 189), ()),
    ("Task Chair", {"material": ("mesh", "fabric", "leather"), "color": ("black", "grey", "blue"),
                    "armrest": ("fixed", "adjustable")}, (129, 549), ()),
    ("Standing Desk", {"width": ("48 inch", "55 inch", "60 inch"), "top": ("walnut", "white", "oak", "bamboo"),
                       "frame": ("black", "white")}, (299, 799), ()),
    ("Notebook", {"size": ("A5", "A4"), "paper": ("lined", "dotted", "blank"), "cover": ("linen", "leather", "kraft")},
     (9, 39), ()),
    ("Fountain Pen", {"nib": ("extra fine", "fine", "medium"), "material": ("resin", "brass", "aluminum"),
                      "color": ("black", "burgundy", "green")}, (25, 180), ()),
    ("Plant Pot", {"diameter": ("4 inch", "6 inch", "8 inch"), "material": ("terracotta", "ceramic", "concrete"),
                   "color": ("natural", "white", "charcoal")}, (9, 59), ()),
    ("Scented Candle", {"scent": ("cedar", "fig", "sea salt", "lavender", "vanilla"), "size": ("small", "large"),
                        "jar": ("amber glass", "white ceramic")}, (14, 48), ()),
    ("Tea Kettle", {"capacity": ("1L", "1.7L"), "material": ("stainless steel", "glass"),
                    "control": ("variable temperature", "simple boil")}, (29, 149), ()),
    ("Blender", {"capacity": ("32 oz", "48 oz", "64 oz"), "power": ("600W", "1000W", "1500W"),
                 "color": ("black", "white", "red")}, (49, 399), ()),
    ("Toaster", {"slots": ("2", "4"), "color": ("black", "cream", "red", "steel"), "width": ("standard", "wide")},
     (29, 149), ()),
    ("Dutch Oven", {"capacity": ("3.5 qt", "5.5 qt", "7 qt"), "color": ("cherry", "navy", "cream", "graphite")},
     (59, 349), ()),
    ("Bike Helmet", {"size": ("S", "M", "L"), "color": ("matte black", "white", "hi-vis yellow"),
                     "visor": ("yes", "no")}, (39, 189), ()),
    ("Camping Tent", {"capacity": ("1-person", "2-person", "4-person"), "season": ("3-season", "4-season"),
                      "color": ("green", "orange", "grey")}, (89, 549), ()),
    ("Sleeping Bag", {"temperature rating": ("20F", "35F", "50F"), "fill": ("down", "synthetic"),
                      "length": ("regular", "long")}, (59, 399), ()),
    ("Hiking Boots", {"size": _SHOE_SIZES, "color": ("brown", "grey", "black"), "waterproof": ("yes", "no")},
     (89, 249), ()),
    ("Umbrella", {"size": ("compact", "golf"), "color": ("black", "navy", "yellow", "plaid"),
                  "canopy": ("single", "double")}, (15, 69), ()),
    ("Wallet", {"material": ("leather", "canvas"), "style": ("bifold", "card holder", "zip"),
                "color": ("brown", "black", "tan")}, (19, 119), ()),
    ("Phone Case", {"model": ("Pixel 9", "iPhone 16", "Galaxy S25"), "material": ("silicone", "leather", "clear"),
                    "color": ("black", "sage", "clay")}, (12, 59), ()),
    ("Earbuds", {"color": ("black", "white", "blue"), "noise cancelling": ("yes", "no"),
                 "charging case": ("wireless", "USB-C")}, (39, 249), ()),
    ("Robot Vacuum", {"suction": ("2000Pa", "4000Pa"), "navigation": ("lidar", "camera"),
                      "color": ("black", "white")}, (179, 699), ()),
    ("Digital Camera", {"resolution": ("20MP", "24MP", "33MP"), "zoom": ("3x", "5x", "10x"),
                        "color": ("black", "silver")}, (299, 1299), ()),
    ("Gaming Mouse", {"sensor": ("optical", "laser"), "weight": ("light", "standard"), "color": ("black", "white"),
                      "connectivity": ("wired", "wireless")}, (24, 149), ()),
    ("Jigsaw Puzzle", {"pieces": ("500", "1000", "2000"), "theme": ("mountains", "city skyline", "botanical", "ocean")},
     (14, 45), ()),
    ("Skateboard", {"deck width": ("7.75 inch", "8 inch", "8.25 inch"), "design": ("plain", "graphic", "retro"),
                    "wheel hardness": ("78A", "99A")}, (49, 159), ()),
]  # fmt: skip

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
