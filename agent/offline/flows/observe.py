"""Learn from tool results: who the customer is, what the store said, what went wrong.

Results arrive as the JSON of `ToolResult.for_model()` in role="tool" messages. Reads go to the cache
(reused across turns), answers of information flows to the flow, and problems become notices the next
reply starts with, with the slot that caused them cleared so the flow asks again.
"""

from __future__ import annotations

import json
from typing import Any

from agent.offline import replies
from agent.offline.state import DialogueState

WRITE_TOOLS = frozenset({
    "cancel_pending_order", "modify_pending_order_address", "modify_pending_order_items",
    "modify_pending_order_payment", "return_delivered_order_items", "exchange_delivered_order_items",
    "modify_user_address",
})  # fmt: skip
ANSWER_TOOLS = frozenset({"track_order", "get_refund_status", "get_invoice", "search_products"})
IDENTIFY_TOOLS = frozenset({"find_user_id_by_email", "find_user_id_by_name_zip"})
ESCALATE_TOOL = "transfer_to_human_agents"


def parse(content: str) -> dict[str, Any]:
    try:
        body = json.loads(content)
    except (json.JSONDecodeError, TypeError):
        return {"ok": False, "error": "invalid", "message": str(content)}
    return body if isinstance(body, dict) else {"ok": False, "error": "invalid", "message": str(content)}


def observe(state: DialogueState, name: str, arguments: dict[str, Any], body: dict[str, Any]) -> None:
    """Record one tool result in the state."""
    error, data, message = body.get("error"), body.get("data"), str(body.get("message") or "")
    if error == "unavailable":
        state.turn["unavailable"] = True
        return
    if error == "forbidden":
        # The conversation is not bound to a customer: identification comes first.
        state.bound = False
        state.data["anonymous"] = True
        return
    flow = state.flow
    if name in IDENTIFY_TOOLS:
        _identified(state, body)
    elif body.get("ok"):
        _read(state, name, arguments, data, message)
    elif error == "not_found" and flow is not None:
        _missing(state, arguments, message)
    if name == ESCALATE_TOOL:
        state.turn["escalated"] = message if body.get("ok") else ""
    elif name in WRITE_TOOLS and flow is not None:
        if error == "needs_confirmation":
            flow.card = name
            flow.ask("confirm", "")
            state.turn["card"] = name
        elif error in ("invalid", "not_found"):
            flow.note(f"{name} refused: {message}")
            state.turn["write_refused"] = message


def _identified(state: DialogueState, body: dict[str, Any]) -> None:
    flow = state.flow
    if body.get("ok"):
        state.customer = str(body["data"])
        state.data["anonymous"] = False
        state.notice(replies.FOUND_ACCOUNT)
        if flow is not None:
            flow.clear("email", "name", "zip")
        return
    state.turn["identify_failed"] = str(body.get("message") or "")
    state.data["identify_failures"] = int(state.data.get("identify_failures", 0)) + 1
    if flow is not None:
        flow.clear("email", "name", "zip")


def _read(state: DialogueState, name: str, arguments: dict[str, Any], data: Any, message: str) -> None:
    state.bound = True  # an account read answered: the conversation acts for a customer
    cache, flow = state.cache, state.flow
    if name == "list_my_orders":
        cache["orders"] = data
    elif name == "get_order_details":
        cache.setdefault("order", {})[data["order_id"]] = data
        if not state.customer and data.get("user_id"):
            state.customer = data["user_id"]
    elif name == "get_user_details":
        cache["user"] = data
        state.customer = data.get("user_id") or state.customer
    elif name == "get_product_details":
        cache.setdefault("products", {})[data["product_id"]] = data
    elif name == "list_all_product_types":
        cache["catalog"] = data
    if name in ANSWER_TOOLS and flow is not None:
        flow.results[name] = {"data": data, "message": message}


def _missing(state: DialogueState, arguments: dict[str, Any], message: str) -> None:
    """An order (or product) that isn't there, or belongs to someone else: say so, and ask again."""
    flow = state.flow
    assert flow is not None
    state.notice(message.replace("was not found", "isn't one I can find on your account")
                 if "Order" in message else message)
    if "order_id" in arguments:
        flow.note(f"order {arguments['order_id']} not found")
        flow.clear("order_id")
    if "product_id" in arguments:
        flow.clear("product_id")
