"""The live page's side panel: who the customer is and their orders, read through the same store tools the
assistant uses, with the same customer scoping (the ticket's customer, never one named by the page)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from tools.base import ToolCall, ToolContext
from tools.registry import ToolRegistry

DETAILS, ORDERS = "get_user_details", "list_my_orders"  # read-only store tools (tools/crm.py, tools/orders.py)


class CustomerPanel:
    def __init__(self, registry: ToolRegistry) -> None:
        self.registry = registry

    async def show(self, conversation_id: str, customer_id: str | None) -> dict[str, Any]:
        """{identified, name, email, address, payment, orders, error}: what the panel prints."""
        if customer_id is None:
            return {"identified": False}
        ctx = ToolContext(conversation_id, customer_id=customer_id)
        details = await self.registry.run(ToolCall(str(uuid.uuid4()), DETAILS, json.dumps({"user_id": customer_id})), ctx)
        orders = await self.registry.run(ToolCall(str(uuid.uuid4()), ORDERS, "{}"), ctx)
        panel: dict[str, Any] = {"identified": True, "id": customer_id, "orders": [], "error": None}
        if details.ok:
            data = details.data
            name = data.get("name", {})
            address = data.get("address", {})
            panel |= {
                "name": f"{name.get('first_name', '')} {name.get('last_name', '')}".strip(),
                "email": data.get("email", ""),
                "address": ", ".join(part for part in (address.get("address1"), address.get("address2"),
                                                       address.get("city"), address.get("state"), address.get("zip"),
                                                       address.get("country")) if part),
                "payment": [_payment(pm) for pm in data.get("payment_methods", {}).values()],
            }  # fmt: skip
        else:
            panel["error"] = details.message
        if orders.ok:
            panel["orders"] = orders.data
        else:
            panel["error"] = panel["error"] or orders.message
        return panel


def _payment(method: dict[str, Any]) -> str:
    if method.get("source") == "credit_card":
        return f"{method.get('brand', 'card')} ending {method.get('last_four', '????')}"
    if method.get("source") == "gift_card":
        return f"gift card ({method.get('balance')})"
    return str(method.get("source", ""))
