"""The demo shop's catalogue: our own products and their variants (nothing here comes from τ-bench).

The catalogue never depends on the shop's seed: the demo customer bought some of its variants, and
docs and tests name them. Also the order-line helpers the demo customers' orders are built with.
"""

from __future__ import annotations

import itertools
import random
from decimal import Decimal
from typing import Any

from tools.store.shapes import cents, money

Doc = dict[str, Any]
_CATALOGUE_SEED = 5151


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


# --- data: our own catalogue (nothing here comes from τ-bench)

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
