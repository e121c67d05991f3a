"""Finding a slot's value in what the customer wrote, with the store records the reference needs.

`find(ctx, slot, text)` is used both to fill a slot the flow needs and, on a new message, to notice
that the customer changed one ("actually, order #W1001004"). Each finder says nothing rather than guess.
"""

from __future__ import annotations

import re
from typing import Any

from agent.offline import entities, replies
from agent.offline.flows.base import Context
from agent.offline.flows.rules import DEPENDS, eligible, original_method

NEW_ITEM = "new:"  # slot prefix: the variant chosen for one item, "new:<item_id>"
LATEST = re.compile(r"\b(last|latest|most recent|newest|recent)\b", re.I)
_WORD = re.compile(r"[a-z]+")
NAME_WORDS = 2  # first and last
MIN_NAME_WORD = 4  # "lamp" names a product; "the", "my" don't


def find(ctx: Context, slot: str, text: str) -> Any:
    """The value `text` gives `slot`, or None."""
    if slot.startswith(NEW_ITEM):
        return variant(ctx, slot[len(NEW_ITEM):], text)
    finder = _FINDERS.get(slot)
    return finder(ctx, text) if finder else None


def corrects(ctx: Context, slot: str, text: str) -> Any:
    """The new value a message gives a slot that is already filled: only what it says outright counts
    ("order #W1001004", "just the keyboard"), not what it may hint at ("my last order")."""
    if slot == "order_id":
        return next(iter(entities.order_ids(text)), None)
    if slot == "kind" and not entities.correction(text):
        return None  # "Visa" while swapping items is a payment for the difference, not a new kind of change
    return find(ctx, slot, text)


def resolve(ctx: Context, slot: str) -> Any:
    return ctx.resolve(slot, lambda text: find(ctx, slot, text))


def reject(ctx: Context) -> bool:
    """"No, the other one": drop the latest choice (and what depended on it), to be asked again."""
    slot = ctx.flow.reject()
    if slot is None:
        return False
    forget(ctx, slot)
    ctx.flow.clear(slot)  # the rejection itself names no value
    return True


def forget(ctx: Context, slot: str) -> None:
    """Clear a slot the customer's latest message corrects, and what was chosen on the strength of it."""
    ctx.flow.clear(slot, keep_newest=True)
    for dependent in DEPENDS.get(slot, ()):
        if dependent == "new_items":
            ctx.flow.clear(*[s for s in ctx.flow.slots if s.startswith(NEW_ITEM)], keep_newest=True)
        else:
            ctx.flow.clear(dependent, keep_newest=True)


def _order(ctx: Context, text: str) -> str | None:
    orders = ctx.orders or []
    fitting = [o for o in orders if eligible(ctx.flow.intent, ctx.flow.get("kind"))(o)]
    return find_order(text, orders, fitting)


def find_order(text: str, orders: list[dict[str, Any]], fitting: list[dict[str, Any]]) -> str | None:
    """An order the message names ("#W1001001"), or points at ("my last order", "the lamp order")."""
    named = entities.order_ids(text)
    if named:
        return named[0]
    words = _words(text)
    for pool in (fitting, orders):  # "the hoodie" may name an order the request doesn't fit: the flow says why
        holding = [o for o in pool if words & {w for name in o.get("items", []) for w in _words(name)}]
        if len(holding) == 1:
            return holding[0]["order_id"]
    pool = fitting or orders
    if LATEST.search(text) and pool:
        return pool[0]["order_id"]  # the list is newest first
    return None


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in _WORD.findall(text.lower()) if len(w) >= MIN_NAME_WORD}


def _items(ctx: Context, text: str) -> list[str] | None:
    order = ctx.order()
    if order is None:
        return None
    return entities.item_references(text, order["items"]) or None


def methods(ctx: Context) -> list[dict[str, Any]]:
    return list((ctx.user or {}).get("payment_methods", {}).values())


def _payment(ctx: Context, text: str) -> str | None:
    if ctx.user is None:
        return None
    found = entities.payment_reference(text, methods(ctx))
    if found == entities.ORIGINAL_PAYMENT:
        order = ctx.order()
        return original_method(order) if order else None
    return found


def variant(ctx: Context, item_id: str, text: str) -> str | None:
    """The new variant for an order item: the one whose option values the customer names ("the blue one").

    Said in passing ("the lamp in black instead"), the variant must also keep every option the customer
    did not name (a wireless headphone stays wireless): none or several such, and the flow asks. An answer
    to the question on screen picks among the variants it listed, which show every option.
    """
    named = named_variants(variants_for(ctx, item_id), text)
    if ctx.flow.awaiting != NEW_ITEM + item_id:
        named = [v for v in named if not unnamed_changes(ctx, item_id, v, text)]
    return named[0]["item_id"] if len(named) == 1 else None


def unnamed_changes(ctx: Context, item_id: str, new: dict[str, Any], text: str) -> list[tuple[str, str]]:
    """(new value, current value) of each option the variant changes though `text` does not name it:
    "in white" for wireless headphones, when the white ones are wired, gives [("wired", "wireless")]."""
    current = _current_options(ctx, item_id)
    said = set(re.findall(r"[a-z0-9]+", text.lower()))
    return [(str(value), str(current.get(key, ""))) for key, value in new["options"].items()
            if current.get(key) != value and not _said(str(value), said)]


def _current_options(ctx: Context, item_id: str) -> dict[str, Any]:
    line = next((i for i in (ctx.order() or {}).get("items", []) if i["item_id"] == item_id), None)
    return dict((line or {}).get("options") or {})


def named_variants(options: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The variants naming most of the option values in `text` ("RGB" fits two keyboards); [] if none."""
    said = set(re.findall(r"[a-z0-9]+", text.lower()))
    scores = [sum(1 for value in v["options"].values() if _said(str(value), said)) for v in options]
    best = max(scores, default=0)
    return [v for v, score in zip(options, scores, strict=True) if score == best] if best else []


def named_values(variant: dict[str, Any], text: str) -> list[str]:
    """The variant's option values the message names ("white" in "in white please")."""
    said = set(re.findall(r"[a-z0-9]+", text.lower()))
    return [str(value) for value in variant["options"].values() if _said(str(value), said)]


def _said(value: str, words: set[str]) -> bool:
    parts = re.findall(r"[a-z0-9]+", value.lower())
    return bool(parts) and all(part in words for part in parts)


def variants_for(ctx: Context, item_id: str) -> list[dict[str, Any]]:
    """Available variants of the item's product other than the item itself."""
    order = ctx.order()
    line = next((i for i in (order or {}).get("items", []) if i["item_id"] == item_id), None)
    product = ctx.product(line["product_id"]) if line else None
    if product is None:
        return []
    return [v for v in product["variants"].values() if v["available"] and v["item_id"] != item_id]


def product(ctx: Context, text: str) -> str | None:
    """A product of the catalogue the message names ("the water bottle", "keyboards")."""
    catalog: dict[str, str] = ctx.state.cache.get("catalog") or {}
    said = _words(text)
    named = [pid for name, pid in catalog.items() if _words(name) and _words(name) <= said]
    if len(named) == 1:
        return named[0]
    partly = [pid for name, pid in catalog.items() if _words(name) & said]
    return partly[0] if len(partly) == 1 else None


def _name(ctx: Context, text: str) -> list[str] | None:
    """A name, or, in answer to "what's your name?", two bare words ("dana whitfield")."""
    found = entities.person_name(text)
    if found is None and ctx.flow.awaiting == "identity" and len(text.split()) == NAME_WORDS:
        found = entities.person_name(f"my name is {text.strip()}")  # the answer is the cue
    return list(found) if found else None


def _labelled(ctx: Context, text: str) -> Any:
    """A typed label of the choices on screen (for slots with no finder of their own)."""
    from agent.offline.flows.base import pick

    return pick(text, ctx.flow.options)


_FINDERS = {
    "order_id": _order,
    "item_ids": _items,
    "payment_method_id": _payment,
    "reason": lambda ctx, text: entities.cancel_reason(text),
    "kind": lambda ctx, text: entities.modify_kind(text) or ("address" if entities.address(text) else None),
    "address": lambda ctx, text: entities.address(text),
    "product_id": product,
    "email": lambda ctx, text: next(iter(entities.emails(text)), None),
    "zip": lambda ctx, text: next(iter(entities.zip_codes(text)), None),
    "name": lambda ctx, text: _name(ctx, text),
    "instead": _labelled,
}


def payment_choices(ctx: Context, ids: list[str]) -> dict[str, str]:
    """Button labels for payment methods, distinct even for two gift cards."""
    by_id = {m["id"]: m for m in methods(ctx)}
    labels: dict[str, str] = {}
    for method_id in ids:
        label = replies.payment_label(by_id.get(method_id, {"id": method_id}))
        if label in labels:
            label = f"{label} · {method_id}"
        labels[label] = method_id
    return labels
