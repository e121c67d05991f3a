"""The dialogue engine's flows, one per store intent (see base.py for how a flow plans)."""

from __future__ import annotations

from collections.abc import Callable

from agent.offline.flows.account import update_address
from agent.offline.flows.base import Context, Step
from agent.offline.flows.catalog import product_info
from agent.offline.flows.details import my_details
from agent.offline.flows.delivered import exchange_items, return_items
from agent.offline.flows.orders import invoice, order_status, refund_status
from agent.offline.flows.pending import cancel_order, modify_order
from agent.offline.intents import (
    CANCEL_ORDER, EXCHANGE_ITEMS, INVOICE, MODIFY_ORDER, ORDER_STATUS, PRODUCT_INFO, REFUND_STATUS, RETURN_ITEMS,
    UPDATE_ADDRESS,
)  # fmt: skip

FLOWS: dict[str, Callable[[Context], Step]] = {
    ORDER_STATUS: order_status,
    CANCEL_ORDER: cancel_order,
    MODIFY_ORDER: modify_order,
    RETURN_ITEMS: return_items,
    EXCHANGE_ITEMS: exchange_items,
    REFUND_STATUS: refund_status,
    INVOICE: invoice,
    PRODUCT_INFO: product_info,
    UPDATE_ADDRESS: update_address,
}
# Not an intent of the router: a question about the customer's own records that reads like a change.
MY_DETAILS = "my_details"
FLOWS[MY_DETAILS] = my_details
