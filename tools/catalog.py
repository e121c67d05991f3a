"""Every business tool on the store: CRM, orders and billing, returns, inventory and escalation."""

from __future__ import annotations

from tools.settings import ToolConfig
from tools.base import Tool
from tools.billing import billing_tools
from tools.crm import crm_tools
from tools.escalation import escalation_tools
from tools.inventory import inventory_tools
from tools.orders import order_tools
from tools.returns import return_tools
from tools.store.access import StoreAccess
from tools.store.db import StoreDatabase


def store_tools(db: StoreDatabase, settings: ToolConfig) -> list[Tool]:
    access = StoreAccess(db)
    return [
        *crm_tools(access),
        *order_tools(access),
        *billing_tools(access),
        *return_tools(access),
        *inventory_tools(access),
        *escalation_tools(db, settings),
    ]
