"""Learn from tool results: who the customer is, what the store said, what went wrong.

Each result arrives typed, with the call it answers and what its tool declared about itself (`ToolSpec`):
the engine knows writes and hand-overs by their declaration, not by name. Reads go to the cache (reused
across turns), answers to the open flow, and problems become notices the next reply starts with, with
the slot that caused them cleared so the flow asks again.
"""

from __future__ import annotations

import json
from typing import Any

from agent.offline import replies
from agent.offline.state import DialogueState
from tools.base import ToolCall, ToolResult, ToolSpec


def observe(state: DialogueState, spec: ToolSpec | None, call: ToolCall, result: ToolResult) -> None:
    """Record one tool result in the state."""
    error, flow = result.error, state.flow
    if error == "unavailable":
        state.turn["unavailable"] = True
        return
    if error == "forbidden":
        # The conversation is not bound to a customer: identification comes first.
        state.bound = False
        state.data["anonymous"] = True
        return
    arguments = _arguments(call)
    if spec is not None and spec.identifies:
        _identified(state, result)
    elif result.ok:
        # The state is saved as JSON between turns: keep the read in JSON's types (dates, decimals as text).
        _read(state, call.name, json.loads(json.dumps(result.data, default=str)), result.message)
    elif error == "not_found" and flow is not None:
        _missing(state, arguments, result.message)
    if spec is not None and spec.hands_over:
        state.turn["escalated"] = result.message if result.ok else ""
    elif spec is not None and spec.writes and flow is not None:
        if result.awaiting_confirmation:
            flow.card = call.name
            flow.ask("confirm", "")
            state.turn["card"] = call.name
        elif error in ("invalid", "not_found"):
            flow.note(f"{call.name} refused: {result.message}")
            state.turn["write_refused"] = result.message


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return {}
    return arguments if isinstance(arguments, dict) else {}


def _identified(state: DialogueState, result: ToolResult) -> None:
    flow = state.flow
    if result.ok:
        state.customer = str(result.data)
        state.data["anonymous"] = False
        state.notice(replies.FOUND_ACCOUNT)
        if flow is not None:
            flow.clear("email", "name", "zip")
        return
    state.turn["identify_failed"] = result.message
    state.data["identify_failures"] = int(state.data.get("identify_failures", 0)) + 1
    if flow is not None:
        flow.clear("email", "name", "zip")


def _read(state: DialogueState, name: str, data: Any, message: str) -> None:
    """Account and catalogue reads the flows plan with go to the cache; any other read answers the flow."""
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
    elif flow is not None:
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
