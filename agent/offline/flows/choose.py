"""Choosing inside an order: which items, which new variants, which payment method, which address."""

from __future__ import annotations

from typing import Any

from agent.offline import replies
from agent.offline.flows.base import Call, Context, Step
from agent.offline.flows.lookup import need_user
from agent.offline.flows.rules import original_method
from agent.offline.flows.slots import (
    NEW_ITEM, forget, methods, named_values, named_variants, payment_choices, resolve, unnamed_changes, variants_for,
)  # fmt: skip
from agent.offline.intents import normalize


def need_items(ctx: Context, question: str) -> Step | None:
    """The order's items the request is about; one item needs no question."""
    order = ctx.order()
    assert order is not None
    items = order["items"]
    if resolve(ctx, "item_ids"):
        return None
    if len(items) == 1:
        ctx.flow.fill("item_ids", [items[0]["item_id"]])
        return None
    choices: dict[str, Any] = {}
    for item in items:
        choices.setdefault(replies.item_label(item), [item["item_id"]])
    choices[replies.ALL_ITEMS] = [item["item_id"] for item in items]
    return ctx.ask("item_ids", question, _without_rejected(ctx, "item_ids", choices))


def chosen_items(ctx: Context) -> list[dict[str, Any]]:
    """The order lines chosen, one per chosen id (a repeated id is several units)."""
    order = ctx.order() or {}
    free = list(order.get("items", []))
    lines = []
    for item_id in ctx.flow.get("item_ids") or []:
        line = next((item for item in free if item["item_id"] == item_id), None)
        if line is not None:
            free.remove(line)
            lines.append(line)
    return lines


def need_refund_method(ctx: Context, lead: str = "") -> Step | None:
    """A return's refund goes to the original payment method or to one of the customer's gift cards."""
    order = ctx.order()
    assert order is not None
    original = original_method(order)
    allowed = [original] if original else []
    allowed += [m["id"] for m in methods(ctx) if m.get("source") == "gift_card" and m["id"] != original]
    question = f"{lead} {replies.ASK_REFUND_METHOD.format(original=_label(ctx, original))}".strip()
    return _need_method(ctx, allowed, question, replies.REFUND_METHODS)


def understood(ctx: Context, action: str) -> str:
    """"I'll return the Headphones (black) from order #W1001001.": what the next question is about."""
    labels = [replies.item_label(line) for line in chosen_items(ctx)]
    if not labels:
        return ""
    return replies.WORKING_ON.format(action=action, items=replies.join(labels), order_id=ctx.flow.get("order_id"))


def need_payment(ctx: Context, question: str, exclude: tuple[str, ...] = (), amount: float = 0.0) -> Step | None:
    """Any of the customer's methods (the order's own first); gift cards must cover `amount`."""
    order = ctx.order() or {}
    original = original_method(order)
    ids = [m["id"] for m in methods(ctx) if m["id"] not in exclude and _covers(m, amount)]
    ids.sort(key=lambda method_id: method_id != original)
    return _need_method(ctx, ids, question, replies.PAYMENT_NOT_OFFERED)


def _covers(method: dict[str, Any], amount: float) -> bool:
    return method.get("source") != "gift_card" or float(method.get("balance", 0)) >= amount


def _need_method(ctx: Context, allowed: list[str], question: str, not_allowed: str) -> Step | None:
    picked = resolve(ctx, "payment_method_id")
    if picked is not None and picked not in allowed:
        ctx.state.notice(not_allowed)
        forget(ctx, "payment_method_id")
    elif picked is not None:
        return None
    if len(allowed) == 1 and not ctx.flow.rejected("payment_method_id"):
        ctx.flow.fill("payment_method_id", allowed[0])
        return None
    if not allowed:
        return ctx.refuse("no payment method can be used", replies.NO_PAYMENT_METHOD, {})
    choices = _without_rejected(ctx, "payment_method_id", payment_choices(ctx, allowed))
    return ctx.ask("payment_method_id", question, choices)


def _label(ctx: Context, method_id: str | None) -> str:
    by_id = {m["id"]: m for m in methods(ctx)}
    return replies.payment_label(by_id[method_id]) if method_id in by_id else "the original payment method"


def need_new_items(ctx: Context) -> Step | list[str]:
    """The new variant for each chosen item (same product, available), or the step towards them."""
    lines = chosen_items(ctx)
    missing = list(dict.fromkeys(line["product_id"] for line in lines if ctx.product(line["product_id"]) is None))
    if missing:
        return Call(tuple(("get_product_details", {"product_id": pid}) for pid in missing))
    new_ids = []
    for line in lines:
        slot = NEW_ITEM + line["item_id"]
        options = variants_for(ctx, line["item_id"])
        newest = next(iter(ctx.flow.heard(slot)), "") if ctx.flow.get(slot) is None else ""
        if newest and not _clicked(ctx, newest) and (step := _trade_off(ctx, line, options, newest)):
            return step  # asked before anything is picked: a typed "white" would pick the only white one
        if (picked := resolve(ctx, slot)) is not None:
            new_ids.append(picked)
            continue
        label = replies.item_label(line)
        if not options:
            return ctx.refuse(f"no other variant of {label} is available", replies.NO_VARIANTS.format(label=label), {})
        # "One with RGB backlight" fits several: offer those first.
        said = next((text for text in ctx.flow.heard(slot) if named_variants(options, text)), "")
        if said and (step := _trade_off(ctx, line, options, said)):
            return step
        options = named_variants(options, said) or options
        choices = {replies.variant_label(v): v["item_id"] for v in options}
        return ctx.ask(slot, replies.ASK_VARIANT.format(name=line["name"], label=label), choices)
    return new_ids


def _clicked(ctx: Context, text: str) -> bool:
    """The message is one of the buttons on screen, clicked or typed in full."""
    return any(normalize(text) == normalize(label) for label in ctx.flow.options)


def _trade_off(ctx: Context, line: dict[str, Any], options: list[dict[str, Any]], text: str) -> Step | None:
    """The customer names values ("in white") that only one variant has, and it changes an option they did
    not name (wireless -> wired): say what it changes and ask, never pick it silently."""
    named = named_variants(options, text)
    if len(named) != 1 or not (changes := unnamed_changes(ctx, line["item_id"], named[0], text)):
        return None
    new = named[0]
    question = replies.VARIANT_TRADE_OFF.format(
        said=", ".join(named_values(new, text)), name=line["name"],
        values=", ".join(str(v) for v in new["options"].values()),
        changes=replies.join([f"{value}, not {current}" for value, current in changes]),
    )
    choices = {f"{replies.YES_THAT_ONE} {replies.variant_label(new)}": new["item_id"]}
    choices.update({replies.variant_label(v): v["item_id"] for v in options if v is not new})
    return ctx.ask(NEW_ITEM + line["item_id"], question, choices)


def price_difference(ctx: Context, new_ids: list[str]) -> float:
    """What the new variants cost more (+) or less (-) than the chosen lines."""
    total = 0.0
    for line, new_id in zip(chosen_items(ctx), new_ids, strict=False):
        product = ctx.product(line["product_id"]) or {"variants": {}}
        new_price = float(product["variants"].get(new_id, {}).get("price", line["price"]))
        total += new_price - float(line["price"])
    return round(total, 2)


def need_address(ctx: Context, question: str = replies.ASK_ADDRESS) -> Step | None:
    if resolve(ctx, "address"):
        return None
    return ctx.ask("address", question)


def _without_rejected(ctx: Context, slot: str, choices: dict[str, Any]) -> dict[str, Any]:
    """"No, the other one": offer what's left, unless nothing is."""
    rejected = ctx.flow.rejected(slot)
    left = {label: value for label, value in choices.items() if value not in rejected}
    return left or choices


def swap(ctx: Context, tool: str, items_question: str, lead: str) -> Step:
    """Items of an order for other variants (an exchange, or an item change of a pending order):
    which items, which variants, who pays or receives the difference, then the tool's preview."""
    if (step := need_items(ctx, items_question)) is not None:
        return step
    if (step := need_user(ctx)) is not None:
        return step
    new_ids = need_new_items(ctx)
    if not isinstance(new_ids, list):
        return new_ids
    difference = price_difference(ctx, new_ids)
    question = f"{understood(ctx, lead)} {replies.ask_difference_method(difference)}".strip()
    if (step := need_payment(ctx, question, amount=max(difference, 0.0))) is not None:
        return step
    return ctx.write(tool, order_id=ctx.flow.get("order_id"), item_ids=ctx.flow.get("item_ids"),
                     new_item_ids=new_ids, payment_method_id=ctx.flow.get("payment_method_id"))
