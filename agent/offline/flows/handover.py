"""Hand-over to a colleague: a summary written from the conversation, so the customer needn't repeat it."""

from __future__ import annotations

from typing import Any

from agent.offline import replies
from agent.offline.flows.base import Call
from agent.offline.flows.slots import NEW_ITEM
from agent.offline.state import DialogueState
from tools.escalation import customer_line

MAX_SUMMARY_CHARS = 3500  # the ticket's summary holds 4000; leave room for the quotes' ellipses
MAX_QUOTE_CHARS = 300
REASON_ASKED = "customer request"
REASON_NOT_UNDERSTOOD = "assistant did not understand"
REASON_POLICY = "policy does not allow the request"


HANDOVER = "<hand over>"


def escalate(state: DialogueState, reason: str, why: str, said: list[str]) -> Call:
    """The hand-over tool call, with a summary of who, what, how far it got, and what went wrong."""
    summary = write_summary(state, why, said)
    state.turn["escalating"] = reason
    # A role, not a tool name: the engine calls whichever tool declares that it hands over.
    return Call(((HANDOVER, {"summary": summary, "reason": reason}),))


def write_summary(state: DialogueState, why: str, said: list[str]) -> str:
    lines = [f"Hand-over: {why}."]
    # The account the conversation acts for is the ticket's customer; the engine's own lookup comes second.
    customer = state.data.get("account") or state.customer
    lines.append(customer_line(customer, signed_in=state.bound))
    flow = state.flow
    if flow is not None:
        lines.append(f"Request: {replies.DOING.get(flow.intent, flow.intent)}.")
        lines += _slots(state, flow.slots)
        lines += [f"Problem: {note}." for note in flow.notes]
    lines += [f"Earlier: {line}" for line in state.recent]
    if said:
        quotes = " | ".join(f'"{text[:MAX_QUOTE_CHARS]}"' for text in said)
        lines.append(f"Customer's last messages: {quotes}")
    return "\n".join(lines)[:MAX_SUMMARY_CHARS]


def _slots(state: DialogueState, slots: dict[str, Any]) -> list[str]:
    order_id = slots.get("order_id")
    order = state.cache.get("order", {}).get(order_id) if order_id else None
    lines = []
    if order_id:
        status = f" ({order['status']})" if order else ""
        lines.append(f"Order: {order_id}{status}.")
    if slots.get("item_ids") and order:
        names = {item["item_id"]: replies.item_label(item) for item in order["items"]}
        lines.append("Items: " + "; ".join(names.get(i, i) for i in slots["item_ids"]) + ".")
    new = {slot[len(NEW_ITEM):]: value for slot, value in slots.items() if slot.startswith(NEW_ITEM)}
    if new:
        lines.append("New items: " + ", ".join(f"{old} -> {value}" for old, value in new.items()) + ".")
    for slot, label in (("payment_method_id", "Payment method"), ("reason", "Reason"), ("kind", "Change")):
        if slots.get(slot):
            lines.append(f"{label}: {slots[slot]}.")
    if address := slots.get("address"):
        lines.append("New address: " + ", ".join(str(v) for v in address.values() if v) + ".")
    return lines
