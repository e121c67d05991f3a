"""Business tools on the SQL store, called through the real registry.

τ-bench retail's write rules and effects, identification (nobody else's records are visible),
preview-then-confirm writes applied once per token, transient errors, and help-desk tickets.
Writes and idempotency also run on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from agent.settings import Settings, ToolSettings
from tests.postgres import PG_URL, private_schema, require_postgres
from tests.store_fixtures import (
    BLACK_WIRELESS, BLUE_L, BLUE_M, BLUE_WIRED, CARD, CLICKY, DANA, GIFT, HEADPHONES, KEYBOARD, LINEAR, LOW_GIFT,
    FAST, OMAR, OMAR_GIFT, PAYPAL, RED_M, RED_WIRED, SHIRT, TACTILE, WHITE_WIRELESS, Shop, balance, build_store,
    count, order_doc, snapshot,
)  # fmt: skip
from tools import inventory, orders
from tools.base import ToolResult
from tools.catalog import store_tools
from tools.store.access import IDENTIFY_FIRST, TOKEN_REUSED
from tools.store.db import StoreDatabase
from tools.store.models import AppliedAction, Ticket

NOWHERE = "#W9999999"
ADDRESS = {"address1": "1 Congress Ave", "address2": "Suite 5", "city": "Austin", "state": "TX", "country": "USA",
           "zip": "78701"}  # fmt: skip


@pytest.fixture
async def shop(tmp_path) -> AsyncIterator[Shop]:
    db = StoreDatabase(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await build_store(db)
    yield Shop(db)
    await db.dispose()


@asynccontextmanager
async def postgres_shop() -> AsyncIterator[Shop]:
    require_postgres()
    with private_schema() as schema:
        db = StoreDatabase(PG_URL, schema)
        try:
            await build_store(db)
            yield Shop(db)
        finally:
            await db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_shop(request, shop) -> AsyncIterator[Shop]:
    """Writes and idempotency run on both backends."""
    if request.param == "sqlite":
        yield shop
        return
    async with postgres_shop() as pg:
        yield pg


def not_found(kind: str, ident: str) -> str:
    return f"{kind} {ident} was not found."


# --- the catalogue of tools ----------------------------------------------------------------------------------------


def test_store_tools_are_exactly_the_enabled_business_tools(shop):
    tools = {t.name: t for t in store_tools(shop.db, Settings())}
    assert set(tools) | {"search_knowledge"} == set(ToolSettings().enabled)
    writes = {name for name, t in tools.items() if t.confirm}
    assert writes == {
        "modify_user_address", "cancel_pending_order", "modify_pending_order_address", "modify_pending_order_items",
        "modify_pending_order_payment", "return_delivered_order_items", "exchange_delivered_order_items",
    }  # fmt: skip
    assert all(not tools[name].read_only for name in writes), "writes are never retried"
    assert {t.backend for name, t in tools.items() if name != "transfer_to_human_agents"} == {"store"}
    assert tools["transfer_to_human_agents"].backend == "helpdesk"
    items = tools["modify_pending_order_items"].schema["properties"]["item_ids"]
    assert items["type"] == "array" and items["description"]
    assert "reason" in tools["transfer_to_human_agents"].schema["properties"]


# --- identification ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["dana@example.com", "  DANA@Example.COM "])
async def test_finding_by_email_identifies_the_customer(shop, email):
    result = await shop.call("find_user_id_by_email", {"email": email}, customer=None)
    assert result.ok and result.data == DANA and result.identified == DANA


@pytest.mark.parametrize(
    ("first", "last", "zip_code", "user_id"),
    [("Dana", "Whitfield", "10001", DANA), ("dANA", "WHITFIELD", "10001", DANA),
     ("Zoe", "Agren", "73301", "zoe_agren_4005"), ("zoë", "ågren", "73301", "zoe_agren_4005")],
)  # fmt: skip
async def test_finding_by_name_and_zip_ignores_case_and_accents(shop, first, last, zip_code, user_id):
    arguments = {"first_name": first, "last_name": last, "zip": zip_code}
    result = await shop.call("find_user_id_by_name_zip", arguments, customer=None)
    assert result.ok and result.identified == user_id


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [("find_user_id_by_email", {"email": "nobody@example.com"}),
     ("find_user_id_by_name_zip", {"first_name": "Dana", "last_name": "Whitfield", "zip": "99999"})],
)  # fmt: skip
async def test_an_unknown_customer_is_not_found(shop, tool, arguments):
    result = await shop.call(tool, arguments, customer=None)
    assert result.error == "not_found" and result.identified is None


async def test_a_shared_name_and_zip_identifies_nobody(shop):
    arguments = {"first_name": "Sam", "last_name": "Lee", "zip": "94110"}
    result = await shop.call("find_user_id_by_name_zip", arguments, customer=None)
    assert result.error == "invalid" and "email" in result.message and result.identified is None


async def test_once_identified_only_the_same_customer_can_be_found(shop):
    unknown = await shop.call("find_user_id_by_email", {"email": "nobody@example.com"})
    other = await shop.call("find_user_id_by_email", {"email": "omar@example.com"})
    other_by_name = await shop.call("find_user_id_by_name_zip", {"first_name": "Omar", "last_name": "Reyes",
                                                                 "zip": "10001"})  # fmt: skip
    assert other.error == other_by_name.error == "not_found" and other.identified is None
    assert other.message == unknown.message == other_by_name.message, "another account reads as no account"
    same = await shop.call("find_user_id_by_email", {"email": "dana@example.com"})
    assert same.ok and same.data == DANA



async def test_a_signed_in_account_without_a_record_finds_nobody(shop):
    """Staff or a new account (signed in, no customer record) cannot look anyone up to act for them."""
    from tools.base import ToolContext
    from tools.crm import SIGNED_IN_ELSEWHERE
    from agent.models.scripted import tool_call

    ctx = ToolContext("c-signed-in", user_id="new-account@example.com")
    for name, arguments in (("find_user_id_by_email", {"email": "omar@example.com"}),
                            ("find_user_id_by_name_zip", {"first_name": "Omar", "last_name": "Reyes", "zip": "10001"})):
        result = await shop.registry.run(tool_call(name, arguments), ctx)
        assert result.error == "forbidden" and result.message == SIGNED_IN_ELSEWHERE and result.identified is None


ACCOUNT_CALLS = [
    ("get_user_details", {"user_id": DANA}),
    ("modify_user_address", {"user_id": DANA, **ADDRESS}),
    ("get_order_details", {"order_id": "#W1001003"}),
    ("list_my_orders", {}),
    ("track_order", {"order_id": "#W1001001"}),
    ("get_refund_status", {"order_id": "#W1001006"}),
    ("get_invoice", {"order_id": "#W1001001"}),
    ("cancel_pending_order", {"order_id": "#W1001003", "reason": "no longer needed"}),
    ("modify_pending_order_address", {"order_id": "#W1001003", **ADDRESS}),
    ("modify_pending_order_items", {"order_id": "#W1001004", "item_ids": [BLUE_M], "new_item_ids": [BLUE_L],
                                    "payment_method_id": GIFT}),
    ("modify_pending_order_payment", {"order_id": "#W1001004", "payment_method_id": PAYPAL}),
    ("return_delivered_order_items", {"order_id": "#W1001001", "item_ids": [BLUE_M], "payment_method_id": GIFT}),
    ("exchange_delivered_order_items", {"order_id": "#W1001001", "item_ids": [BLUE_M], "new_item_ids": [BLUE_L],
                                        "payment_method_id": GIFT}),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "arguments"), ACCOUNT_CALLS, ids=[c[0] for c in ACCOUNT_CALLS])
@pytest.mark.parametrize("token", [None, "tok-x"])
async def test_account_tools_refuse_until_the_customer_is_identified(shop, tool, arguments, token):
    before = await snapshot(shop.db)
    result = await shop.call(tool, arguments, customer=None, token=token)
    assert result.error == "forbidden" and result.message == IDENTIFY_FIRST
    assert await snapshot(shop.db) == before


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [("list_all_product_types", {}), ("get_product_details", {"product_id": SHIRT}),
     ("search_products", {"query": "blue"}), ("transfer_to_human_agents", {"summary": "Wants a person."})],
)  # fmt: skip
async def test_catalogue_and_hand_over_need_no_identification(shop, tool, arguments):
    assert (await shop.call(tool, arguments, customer=None)).ok


# --- nothing of another customer is visible ------------------------------------------------------------------------

ORDER_PROBES = [
    ("get_order_details", {}), ("track_order", {}), ("get_refund_status", {}), ("get_invoice", {}),
    ("cancel_pending_order", {"reason": "no longer needed"}),
    ("modify_pending_order_address", ADDRESS),
    ("modify_pending_order_items", {"item_ids": [BLACK_WIRELESS], "new_item_ids": [WHITE_WIRELESS],
                                    "payment_method_id": GIFT}),
    ("modify_pending_order_payment", {"payment_method_id": PAYPAL}),
    ("return_delivered_order_items", {"item_ids": [BLUE_M], "payment_method_id": GIFT}),
    ("exchange_delivered_order_items", {"item_ids": [BLUE_M], "new_item_ids": [BLUE_L], "payment_method_id": GIFT}),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "extra"), ORDER_PROBES, ids=[p[0] for p in ORDER_PROBES])
@pytest.mark.parametrize("theirs", ["#W2002001", "#W2002002"])
async def test_another_customers_order_reads_like_a_missing_one(shop, tool, extra, theirs):
    before = await snapshot(shop.db)
    missing = await shop.call(tool, {"order_id": NOWHERE, **extra})
    probed = await shop.call(tool, {"order_id": theirs, **extra})
    confirmed = await shop.call(tool, {"order_id": theirs, **extra}, token="tok-probe")
    assert missing.error == probed.error == confirmed.error == "not_found"
    assert missing.message == not_found("Order", NOWHERE) and probed.message == not_found("Order", theirs)
    assert confirmed.message == probed.message
    assert await snapshot(shop.db) == before


@pytest.mark.parametrize("tool", ["get_user_details", "modify_user_address"])
async def test_another_customers_user_id_reads_like_a_missing_one(shop, tool):
    address = ADDRESS if tool == "modify_user_address" else {}
    missing = await shop.call(tool, {"user_id": "nobody_0000", **address})
    probed = await shop.call(tool, {"user_id": OMAR, **address})
    assert missing.error == probed.error == "not_found"
    assert (missing.message, probed.message) == (not_found("User", "nobody_0000"), not_found("User", OMAR))


PAYMENT_PROBES = [
    ("modify_pending_order_payment", {"order_id": "#W1001004"}),
    ("modify_pending_order_items", {"order_id": "#W1001004", "item_ids": [BLUE_M], "new_item_ids": [BLUE_L]}),
    ("return_delivered_order_items", {"order_id": "#W1001001", "item_ids": [BLUE_M]}),
    ("exchange_delivered_order_items", {"order_id": "#W1001001", "item_ids": [BLUE_M], "new_item_ids": [BLUE_L]}),
]


@pytest.mark.parametrize(("tool", "arguments"), PAYMENT_PROBES, ids=[p[0] for p in PAYMENT_PROBES])
async def test_another_customers_payment_method_reads_like_a_missing_one(shop, tool, arguments):
    missing = await shop.call(tool, {**arguments, "payment_method_id": "gift_card_0000000"})
    probed = await shop.call(tool, {**arguments, "payment_method_id": OMAR_GIFT})
    assert missing.error == probed.error == "not_found"
    assert probed.message == not_found("Payment method", OMAR_GIFT)
    assert missing.message == not_found("Payment method", "gift_card_0000000")


# --- reads ---------------------------------------------------------------------------------------------------------


async def test_user_details_are_the_taubench_user_document(shop):
    result = await shop.call("get_user_details", {"user_id": DANA})
    user = result.data
    assert user["user_id"] == DANA and user["email"] == "dana@example.com"
    assert user["name"] == {"first_name": "Dana", "last_name": "Whitfield"}
    assert list(user["payment_methods"]) == [GIFT, CARD, PAYPAL, LOW_GIFT]
    assert user["payment_methods"][GIFT] == {"source": "gift_card", "id": GIFT, "balance": 150.0}
    assert user["payment_methods"][CARD] == {"source": "credit_card", "id": CARD, "brand": "visa", "last_four": "4242"}
    assert user["orders"] == [f"#W10010{n:02d}" for n in range(1, 11)]


@pytest.mark.parametrize("order_id", ["#W1001003", "W1001003", "w1001003", " #w1001003 "])
async def test_order_ids_work_with_or_without_the_hash(shop, order_id):
    result = await shop.call("get_order_details", {"order_id": order_id})
    assert result.ok and result.data == await order_doc(shop.db, "#W1001003")
    assert result.data["payment_history"] == [{"transaction_type": "payment", "amount": 54.99,
                                               "payment_method_id": GIFT}]  # fmt: skip


async def test_my_orders_are_listed_newest_first_with_totals(shop):
    result = await shop.call("list_my_orders")
    assert [o["order_id"] for o in result.data] == [
        "#W1001010", "#W1001007", "#W1001005", "#W1001004", "#W1001003", "#W1001002", "#W1001009", "#W1001008",
        "#W1001006", "#W1001001",
    ]  # fmt: skip
    first = result.data[-1]
    assert first == {"order_id": "#W1001001", "status": "delivered", "placed": "2026-11-01",
                     "items": ["Headphones", "Mechanical Keyboard", "T-Shirt", "T-Shirt"], "total": 269.96}
    assert "10 orders" in result.message


async def test_the_order_list_is_bounded(shop, monkeypatch):
    monkeypatch.setattr(orders, "MAX_LISTED_ORDERS", 3)
    result = await shop.call("list_my_orders")
    assert [o["order_id"] for o in result.data] == ["#W1001010", "#W1001007", "#W1001005"]
    assert "3 most recent of 10" in result.message


async def test_tracking_shows_packages_and_their_items(shop):
    result = await shop.call("track_order", {"order_id": "#W1001001"})
    assert result.data["packages"] == [{"tracking_ids": ["TRK1001001"], "items": [
        "Headphones (color: black, connectivity: wireless)",
        "Mechanical Keyboard (layout: full size, switch type: linear)",
        "T-Shirt (color: blue, size: M)", "T-Shirt (color: blue, size: M)",
    ]}]  # fmt: skip
    assert result.data["not_shipped"] == [] and "TRK1001001" in result.message


@pytest.mark.parametrize(
    ("order_id", "says"),
    [("#W1001003", "processed within 1 business day"), ("#W1001006", "cancelled, so nothing will ship")],
)
async def test_tracking_an_unshipped_order_says_so(shop, order_id, says):
    result = await shop.call("track_order", {"order_id": order_id})
    assert result.ok and result.data["packages"] == []
    assert "has shipped yet" in result.message and says in result.message


async def test_refund_status_of_a_cancelled_order(shop):
    result = await shop.call("get_refund_status", {"order_id": "#W1001006"})
    assert result.data["refunds"] == [{"amount": 19.99, "payment_method_id": GIFT, "method": f"gift card {GIFT}",
                                       "timing": "available right away"}]  # fmt: skip
    assert result.data["request"] is None


async def test_refund_status_of_a_requested_return(shop):
    result = await shop.call("get_refund_status", {"order_id": "#W1001008"})
    request = result.data["request"]
    assert request["type"] == "return" and request["refund_amount"] == 109.99
    assert request["items"] == ["Headphones (color: white, connectivity: wireless)"]
    assert request["payment_method_id"] == GIFT and "inspects the return" in request["timing"]
    assert "No refund has been issued" in result.message and "$109.99" in result.message


async def test_refund_status_of_a_requested_exchange(shop):
    result = await shop.call("get_refund_status", {"order_id": "#W1001009"})
    request = result.data["request"]
    assert request["type"] == "exchange" and request["price_difference"] == 1.5
    assert request["new_items"] == ["T-Shirt (color: blue, size: L)"]
    assert "$1.50 is charged to Visa ending 4242" in result.message


async def test_card_refunds_take_business_days(any_shop):
    await any_shop.apply("modify_pending_order_payment", {"order_id": "#W1001004", "payment_method_id": PAYPAL})
    result = await any_shop.call("get_refund_status", {"order_id": "#W1001004"})
    assert result.data["refunds"] == [{"amount": 179.47, "payment_method_id": CARD, "method": "Visa ending 4242",
                                       "timing": "5–7 business days to appear"}]  # fmt: skip


async def test_invoice_is_a_receipt(shop):
    result = await shop.call("get_invoice", {"order_id": "#W1001001"})
    invoice = result.data
    assert invoice["subtotal"] == 269.96 and invoice["net_paid"] == 269.96 and invoice["refunds"] == []
    assert invoice["payments"] == [{"amount": 269.96, "payment_method_id": CARD, "method": "Visa ending 4242"}]
    assert invoice["bill_to"] == {"name": "Dana Whitfield", "email": "dana@example.com"}
    assert invoice["lines"][0] == {"item_id": BLACK_WIRELESS, "price": 99.99,
                                   "description": "Headphones (color: black, connectivity: wireless)"}
    assert "Visa ending 4242" in result.message and "$269.96" in result.message


async def test_invoice_of_a_refunded_order_nets_to_zero(shop):
    invoice = (await shop.call("get_invoice", {"order_id": "#W1001006"})).data
    assert (invoice["subtotal"], invoice["net_paid"]) == (19.99, 0.0)
    assert invoice["refunds"][0]["method"] == f"gift card {GIFT}"


async def test_product_details_and_types(shop):
    product = (await shop.call("get_product_details", {"product_id": HEADPHONES})).data
    assert product["name"] == "Headphones" and list(product["variants"]) == [
        BLACK_WIRELESS, WHITE_WIRELESS, RED_WIRED, BLUE_WIRED]
    assert product["variants"][RED_WIRED] == {"item_id": RED_WIRED, "available": False, "price": 79.99,
                                              "options": {"color": "red", "connectivity": "wired"}}
    missing = await shop.call("get_product_details", {"product_id": "123"})
    assert missing.error == "not_found" and missing.message == not_found("Product", "123")
    types = (await shop.call("list_all_product_types")).data
    assert types == {"Headphones": HEADPHONES, "Mechanical Keyboard": KEYBOARD, "T-Shirt": SHIRT}
    assert list(types) == sorted(types)


def _variants(result: ToolResult) -> set[str]:
    return {v["item_id"] for product in result.data for v in product["variants"]}


@pytest.mark.parametrize(
    ("query", "available_only", "expected"),
    [("headphones wireless", True, {BLACK_WIRELESS, WHITE_WIRELESS}),
     ("blue", True, {BLUE_WIRED, BLUE_M, BLUE_L}),
     ("red", True, {RED_M}),
     ("red", False, {RED_M, RED_WIRED}),
     ("Keyboard tactile", True, {TACTILE}),
     ("100%_", True, set())],
)  # fmt: skip
async def test_search_by_name_and_option_values(shop, query, available_only, expected):
    result = await shop.call("search_products", {"query": query, "available_only": available_only}, customer=None)
    assert result.ok and _variants(result) == expected
    assert all(v["available"] or not available_only for p in result.data for v in p["variants"])


async def test_search_results_are_bounded(shop, monkeypatch):
    monkeypatch.setattr(inventory, "MAX_SEARCH_VARIANTS", 2)
    result = await shop.call("search_products", {"query": "blue"})
    assert len(_variants(result)) == 2 and "narrow" in result.message


# --- τ-bench policy rules: refused at preview and at confirmation, nothing changes ----------------------------------

RULES = [
    ("cancel_pending_order", {"order_id": "#W1001001", "reason": "no longer needed"},
     "Non-pending order cannot be cancelled"),
    ("cancel_pending_order", {"order_id": "#W1001005", "reason": "no longer needed"},
     "Non-pending order cannot be cancelled"),
    ("cancel_pending_order", {"order_id": "#W1001003", "reason": "changed my mind"}, "Invalid reason"),
    ("modify_pending_order_address", {"order_id": "#W1001002", **ADDRESS}, "Non-pending order cannot be modified"),
    ("modify_pending_order_items", {"order_id": "#W1001005", "item_ids": [BLUE_L], "new_item_ids": [BLUE_M],
                                    "payment_method_id": GIFT}, "Non-pending order cannot be modified"),
    ("modify_pending_order_items", {"order_id": "#W1001004", "item_ids": [BLUE_M] * 3, "new_item_ids": [BLUE_L] * 3,
                                    "payment_method_id": GIFT}, f"Item {BLUE_M} not found 3 times"),
    ("modify_pending_order_items", {"order_id": "#W1001004", "item_ids": [TACTILE, TACTILE],
                                    "new_item_ids": [LINEAR, LINEAR], "payment_method_id": GIFT},
     f"Item {TACTILE} not found 2 times"),
    ("modify_pending_order_items", {"order_id": "#W1001004", "item_ids": [BLUE_M], "new_item_ids": [BLUE_L, RED_M],
                                    "payment_method_id": GIFT}, "The number of items to be exchanged should match"),
    ("modify_pending_order_items", {"order_id": "#W1001004", "item_ids": [BLUE_M], "new_item_ids": [BLUE_M],
                                    "payment_method_id": GIFT},
     "The new item id should be different from the old item id"),
    ("modify_pending_order_items", {"order_id": "#W1001004", "item_ids": [BLUE_M], "new_item_ids": [LINEAR],
                                    "payment_method_id": GIFT}, f"New item {LINEAR} not found or available"),
    ("modify_pending_order_items", {"order_id": "#W1001004", "item_ids": [TACTILE], "new_item_ids": [CLICKY],
                                    "payment_method_id": GIFT}, f"New item {CLICKY} not found or available"),
    ("modify_pending_order_items", {"order_id": "#W1001004", "item_ids": [BLUE_M], "new_item_ids": ["9999999999"],
                                    "payment_method_id": GIFT}, "New item 9999999999 not found or available"),
    ("modify_pending_order_items", {"order_id": "#W1001004", "item_ids": [BLUE_M], "new_item_ids": [BLUE_L],
                                    "payment_method_id": LOW_GIFT},
     "Insufficient gift card balance to pay for the new item"),
    ("modify_pending_order_payment", {"order_id": "#W1001002", "payment_method_id": GIFT},
     "Non-pending order cannot be modified"),
    ("modify_pending_order_payment", {"order_id": "#W1001007", "payment_method_id": PAYPAL},
     "There should be exactly one payment for a pending order"),
    ("modify_pending_order_payment", {"order_id": "#W1001005", "payment_method_id": PAYPAL},
     "There should be exactly one payment for a pending order"),
    ("modify_pending_order_payment", {"order_id": "#W1001004", "payment_method_id": CARD},
     "The new payment method should be different from the current one"),
    ("modify_pending_order_payment", {"order_id": "#W1001004", "payment_method_id": GIFT},
     "Insufficient gift card balance to pay for the order"),
    ("return_delivered_order_items", {"order_id": "#W1001003", "item_ids": [BLUE_WIRED], "payment_method_id": GIFT},
     "Non-delivered order cannot be returned"),
    ("return_delivered_order_items", {"order_id": "#W1001001", "item_ids": [BLUE_M], "payment_method_id": PAYPAL},
     "Payment method should be the original payment method"),
    ("return_delivered_order_items", {"order_id": "#W1001001", "item_ids": [BLUE_M] * 3, "payment_method_id": GIFT},
     f"Item {BLUE_M} not found 3 times"),
    ("return_delivered_order_items", {"order_id": "#W1001001", "item_ids": [RED_M], "payment_method_id": CARD},
     f"Item {RED_M} not found in order #W1001001"),
    ("exchange_delivered_order_items", {"order_id": "#W1001003", "item_ids": [BLUE_WIRED],
                                        "new_item_ids": [BLACK_WIRELESS], "payment_method_id": GIFT},
     "Non-delivered order cannot be exchanged"),
    ("exchange_delivered_order_items", {"order_id": "#W1001008", "item_ids": [BLUE_M], "new_item_ids": [BLUE_L],
                                        "payment_method_id": GIFT}, "Non-delivered order cannot be exchanged"),
    ("exchange_delivered_order_items", {"order_id": "#W1001001", "item_ids": [BLUE_M] * 3,
                                        "new_item_ids": [BLUE_L] * 3, "payment_method_id": GIFT},
     f"Item {BLUE_M} not found 3 times"),
    ("exchange_delivered_order_items", {"order_id": "#W1001001", "item_ids": [BLUE_M, LINEAR],
                                        "new_item_ids": [BLUE_L], "payment_method_id": GIFT},
     "The number of items to be exchanged should match"),
    ("exchange_delivered_order_items", {"order_id": "#W1001001", "item_ids": [LINEAR], "new_item_ids": [CLICKY],
                                        "payment_method_id": GIFT}, f"New item {CLICKY} not found or available"),
    ("exchange_delivered_order_items", {"order_id": "#W1001001", "item_ids": [BLUE_M], "new_item_ids": [BLUE_L],
                                        "payment_method_id": LOW_GIFT},
     "Insufficient gift card balance to pay for the price difference"),
    ("modify_pending_order_items", {"order_id": "#W1001004", "item_ids": [], "new_item_ids": [],
                                    "payment_method_id": GIFT}, "item_ids"),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "arguments", "message"), RULES, ids=[f"{r[0]}:{r[2][:40]}" for r in RULES])
@pytest.mark.parametrize("token", [None, "tok-rule"])
async def test_policy_violations_are_refused_and_change_nothing(shop, tool, arguments, message, token):
    before = await snapshot(shop.db)
    result = await shop.call(tool, arguments, token=token)
    assert result.error == "invalid" and message in result.message
    assert await snapshot(shop.db) == before, "not even the confirmation token is used up"


async def test_rules_are_checked_in_taubench_order(shop):
    result = await shop.call("cancel_pending_order", {"order_id": "#W1001001", "reason": "changed my mind"})
    assert result.message == "Non-pending order cannot be cancelled"


# --- τ-bench effects of confirmed writes ---------------------------------------------------------------------------


async def test_cancel_refunds_a_gift_card_at_once(any_shop):
    preview = await any_shop.call("cancel_pending_order", {"order_id": "W1001003", "reason": "no longer needed"})
    assert preview.summary == [
        "Cancel order #W1001003: Headphones (color: blue, connectivity: wired).",
        "Reason: no longer needed.",
        f"Refund $54.99 to gift card {GIFT} (balance $150.00 → $204.99): available right away.",
    ]
    result = await any_shop.apply("cancel_pending_order", {"order_id": "W1001003", "reason": "no longer needed"})
    assert result.message == (
        f"Order #W1001003 is cancelled. $54.99 is refunded to your gift card ({GIFT}) right away; "
        "its balance is now $204.99."
    )
    order = await order_doc(any_shop.db, "#W1001003")
    assert result.data == order
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "no longer needed")
    assert order["payment_history"] == [
        {"transaction_type": "payment", "amount": 54.99, "payment_method_id": GIFT},
        {"transaction_type": "refund", "amount": 54.99, "payment_method_id": GIFT},
    ]
    assert await balance(any_shop.db, GIFT) == Decimal("204.99")


async def test_cancel_refunds_each_payment_to_its_own_method(any_shop):
    result = await any_shop.apply("cancel_pending_order", {"order_id": "#W1001007", "reason": "ordered by mistake"})
    assert [(p["transaction_type"], p["amount"], p["payment_method_id"]) for p in result.data["payment_history"]] == [
        ("payment", 10.0, LOW_GIFT), ("payment", 119.99, CARD), ("refund", 10.0, LOW_GIFT), ("refund", 119.99, CARD),
    ]  # fmt: skip
    assert await balance(any_shop.db, LOW_GIFT) == Decimal("11.00")
    assert "$119.99 is refunded to your Visa ending 4242; it takes 5–7 business days to appear." in result.message


async def test_modifying_duplicated_items_maps_each_unit_once(any_shop):
    arguments = {"order_id": "#W1001004", "item_ids": [BLUE_M, BLUE_M], "new_item_ids": [BLUE_L, RED_M],
                 "payment_method_id": GIFT}  # fmt: skip
    preview = await any_shop.call("modify_pending_order_items", arguments)
    assert "T-Shirt (color: blue, size: M) ($19.99) → T-Shirt (color: blue, size: L) ($21.49)." in preview.summary
    assert "T-Shirt (color: blue, size: M) ($19.99) → T-Shirt (color: red, size: M) ($19.99)." in preview.summary
    assert f"Charge $1.50 to gift card {GIFT} (balance $150.00 → $148.50)." in preview.summary
    order = (await any_shop.apply("modify_pending_order_items", arguments)).data
    assert [(i["item_id"], i["price"], i["options"]) for i in order["items"]] == [
        (BLUE_L, 21.49, {"color": "blue", "size": "L"}), (RED_M, 19.99, {"color": "red", "size": "M"}),
        (TACTILE, 139.49, {"switch type": "tactile", "layout": "full size"}),
    ]  # fmt: skip
    assert order["status"] == "pending (item modified)"
    assert order["payment_history"][-1] == {"transaction_type": "payment", "amount": 1.5, "payment_method_id": GIFT}
    assert await balance(any_shop.db, GIFT) == Decimal("148.50")
    again = await any_shop.call("modify_pending_order_items", {**arguments, "item_ids": [BLUE_L],
                                                                "new_item_ids": [BLUE_M]})  # fmt: skip
    assert again.message == "Non-pending order cannot be modified", "items change once per order"


async def test_price_differences_are_exact_cents(any_shop):
    # In floats 2 × (21.49 − 19.99) is 3.0000000000000036.
    arguments = {"order_id": "#W1001004", "item_ids": [BLUE_M, BLUE_M], "new_item_ids": [BLUE_L, BLUE_L],
                 "payment_method_id": GIFT}  # fmt: skip
    order = (await any_shop.apply("modify_pending_order_items", arguments)).data
    assert order["payment_history"][-1]["amount"] == 3.0
    assert await balance(any_shop.db, GIFT) == Decimal("147.00")


@pytest.mark.parametrize(
    ("new_item", "payment_method", "line", "gift_balance"),
    [(LINEAR, CARD, {"transaction_type": "refund", "amount": 9.5, "payment_method_id": CARD}, "150.00"),
     (LINEAR, GIFT, {"transaction_type": "refund", "amount": 9.5, "payment_method_id": GIFT}, "159.50")],
)  # fmt: skip
async def test_a_cheaper_variant_refunds_the_difference(any_shop, new_item, payment_method, line, gift_balance):
    arguments = {"order_id": "#W1001004", "item_ids": [TACTILE], "new_item_ids": [new_item],
                 "payment_method_id": payment_method}  # fmt: skip
    result = await any_shop.apply("modify_pending_order_items", arguments)
    assert result.data["payment_history"][-1] == line and "$9.50 is refunded" in result.message
    assert await balance(any_shop.db, GIFT) == Decimal(gift_balance)


async def test_a_same_price_swap_records_a_zero_refund_as_taubench_does(shop):
    arguments = {"order_id": "#W1001004", "item_ids": [BLUE_M], "new_item_ids": [RED_M], "payment_method_id": CARD}
    result = await shop.apply("modify_pending_order_items", arguments)
    assert result.data["payment_history"][-1] == {"transaction_type": "refund", "amount": 0.0,
                                                  "payment_method_id": CARD}  # fmt: skip
    assert "no price difference" in result.message


async def test_changing_the_payment_method_charges_the_new_and_refunds_the_old(any_shop):
    result = await any_shop.apply("modify_pending_order_payment", {"order_id": "#W1001004",
                                                                   "payment_method_id": PAYPAL})  # fmt: skip
    assert result.data["payment_history"] == [
        {"transaction_type": "payment", "amount": 179.47, "payment_method_id": CARD},
        {"transaction_type": "payment", "amount": 179.47, "payment_method_id": PAYPAL},
        {"transaction_type": "refund", "amount": 179.47, "payment_method_id": CARD},
    ]
    assert result.data["status"] == "pending"


@pytest.mark.parametrize(
    ("order_id", "new_method", "gift_balance"),
    [("#W1001003", CARD, "204.99"),  # the gift card is refunded
     ("#W1001010", GIFT, "130.01")],  # the gift card pays
)  # fmt: skip
async def test_gift_card_balances_follow_a_payment_change(any_shop, order_id, new_method, gift_balance):
    preview = await any_shop.call("modify_pending_order_payment", {"order_id": order_id,
                                                                   "payment_method_id": new_method})  # fmt: skip
    assert any(f"gift card {GIFT} (balance $150.00 → ${gift_balance})" in line for line in preview.summary)
    await any_shop.apply("modify_pending_order_payment", {"order_id": order_id, "payment_method_id": new_method})
    assert await balance(any_shop.db, GIFT) == Decimal(gift_balance)


async def test_an_order_address_changes_while_pending_even_after_an_item_change(any_shop):
    result = await any_shop.apply("modify_pending_order_address", {"order_id": "#W1001005", **ADDRESS})
    assert result.data["address"] == ADDRESS and result.data["status"] == "pending (item modified)"
    assert (await order_doc(any_shop.db, "#W1001005"))["address"] == ADDRESS


async def test_the_default_address_changes(any_shop):
    preview = await any_shop.call("modify_user_address", {"user_id": DANA, **ADDRESS})
    assert "New address: 1 Congress Ave, Suite 5, Austin, TX 78701, USA." in preview.summary
    result = await any_shop.apply("modify_user_address", {"user_id": DANA, **ADDRESS})
    assert result.data["address"] == ADDRESS
    assert (await any_shop.call("get_user_details", {"user_id": DANA})).data["address"] == ADDRESS


@pytest.mark.parametrize("method", [GIFT, CARD])
async def test_a_return_goes_to_a_gift_card_or_the_original_method(any_shop, method):
    arguments = {"order_id": "#W1001001", "item_ids": [BLUE_M, BLACK_WIRELESS, BLUE_M], "payment_method_id": method}
    preview = await any_shop.call("return_delivered_order_items", arguments)
    assert any("Refund $139.97" in line for line in preview.summary)
    order = (await any_shop.apply("return_delivered_order_items", arguments)).data
    assert order["status"] == "return requested"
    assert order["return_items"] == [BLACK_WIRELESS, BLUE_M, BLUE_M] and order["return_payment_method_id"] == method
    assert len(order["payment_history"]) == 1, "the refund is issued after the return arrives"
    assert await balance(any_shop.db, GIFT) == Decimal("150.00")


async def test_an_exchange_records_the_request_and_the_difference(any_shop):
    arguments = {"order_id": "#W1001001", "item_ids": [LINEAR, BLACK_WIRELESS],
                 "new_item_ids": [TACTILE, WHITE_WIRELESS], "payment_method_id": CARD}  # fmt: skip
    order = (await any_shop.apply("exchange_delivered_order_items", arguments)).data
    assert order["status"] == "exchange requested"
    assert order["exchange_items"] == [BLACK_WIRELESS, LINEAR]
    assert order["exchange_new_items"] == [WHITE_WIRELESS, TACTILE]
    assert (order["exchange_payment_method_id"], order["exchange_price_difference"]) == (CARD, 19.5)
    assert len(order["payment_history"]) == 1


@pytest.mark.parametrize(
    ("old", "new", "difference"),
    [([BLACK_WIRELESS], [BLUE_WIRED], -45.0),  # a refund needs no gift-card balance
     ([BLUE_M], [BLUE_M], 0.0)],  # τ-bench lets an exchange keep the same variant
)  # fmt: skip
async def test_exchanges_that_cost_nothing_need_no_balance(shop, old, new, difference):
    arguments = {"order_id": "#W1001001", "item_ids": old, "new_item_ids": new, "payment_method_id": LOW_GIFT}
    order = (await shop.apply("exchange_delivered_order_items", arguments)).data
    assert order["exchange_price_difference"] == difference
    assert await balance(shop.db, LOW_GIFT) == Decimal("1.00")


# --- confirmation: preview, apply once per token -------------------------------------------------------------------

WRITES = [
    ("cancel_pending_order", {"order_id": "#W1001003", "reason": "no longer needed"}),
    ("modify_pending_order_items", {"order_id": "#W1001004", "item_ids": [BLUE_M], "new_item_ids": [BLUE_L],
                                    "payment_method_id": GIFT}),
    ("modify_pending_order_payment", {"order_id": "#W1001010", "payment_method_id": GIFT}),
    ("modify_pending_order_address", {"order_id": "#W1001003", **ADDRESS}),
    ("modify_user_address", {"user_id": DANA, **ADDRESS}),
    ("return_delivered_order_items", {"order_id": "#W1001001", "item_ids": [BLUE_M], "payment_method_id": CARD}),
    ("exchange_delivered_order_items", {"order_id": "#W1001001", "item_ids": [BLUE_M], "new_item_ids": [BLUE_L],
                                        "payment_method_id": GIFT}),
]  # fmt: skip


@pytest.mark.parametrize(("tool", "arguments"), WRITES, ids=[w[0] for w in WRITES])
async def test_without_confirmation_a_write_only_previews(any_shop, tool, arguments):
    before = await snapshot(any_shop.db)
    result = await any_shop.call(tool, arguments)
    assert result.error == "needs_confirmation" and not result.ok
    assert result.summary and result.data["preview"]
    assert result.message.startswith("Nothing has changed yet.")
    assert await snapshot(any_shop.db) == before


@pytest.mark.parametrize(("tool", "arguments"), WRITES, ids=[w[0] for w in WRITES])
async def test_the_same_token_applies_once_and_answers_the_same(any_shop, tool, arguments):
    first = await any_shop.call(tool, arguments, token="tok-twice")
    after_first = await snapshot(any_shop.db)
    second = await any_shop.call(tool, arguments, token="tok-twice")
    assert first.ok and second == first
    assert await snapshot(any_shop.db) == after_first
    assert await count(any_shop.db, AppliedAction) == 1


async def test_an_applied_action_is_recorded_with_its_result(any_shop):
    arguments = {"order_id": "W1001003", "reason": "no longer needed"}
    result = await any_shop.call("cancel_pending_order", arguments, token="tok-record")
    async with any_shop.db.read() as session:
        action = await session.get_one(AppliedAction, "tok-record")
        stored = (action.tool, action.customer_id, action.arguments, action.result)
    assert stored == ("cancel_pending_order", DANA, {"order_id": "#W1001003", "reason": "no longer needed"},
                      {"data": result.data, "message": result.message})  # fmt: skip


async def test_a_used_token_does_not_confirm_another_request(any_shop):
    await any_shop.call("cancel_pending_order", {"order_id": "#W1001003", "reason": "no longer needed"}, token="tok-1")
    before = await snapshot(any_shop.db)
    other = await any_shop.call("cancel_pending_order", {"order_id": "#W1001004", "reason": "no longer needed"},
                                token="tok-1")  # fmt: skip
    stolen = await any_shop.call("cancel_pending_order", {"order_id": "#W1001003", "reason": "no longer needed"},
                                 token="tok-1", customer=OMAR)  # fmt: skip
    assert other.error == stolen.error == "invalid" and other.message == stolen.message == TOKEN_REUSED
    assert await snapshot(any_shop.db) == before


async def test_concurrent_clicks_with_one_token_apply_once(any_shop):
    arguments = {"order_id": "#W1001003", "reason": "no longer needed"}
    results = await asyncio.gather(*(any_shop.call("cancel_pending_order", arguments, token="tok-race")
                                     for _ in range(3)))  # fmt: skip
    assert all(r.ok for r in results) and results[0] == results[1] == results[2]
    order = await order_doc(any_shop.db, "#W1001003")
    assert [p["transaction_type"] for p in order["payment_history"]] == ["payment", "refund"]
    assert await balance(any_shop.db, GIFT) == Decimal("204.99")
    assert await count(any_shop.db, AppliedAction) == 1


async def test_concurrent_writes_to_one_order_are_serialized(any_shop):
    arguments = {"order_id": "#W1001003", "reason": "no longer needed"}
    results = await asyncio.gather(*(any_shop.call("cancel_pending_order", arguments, token=f"tok-{n}")
                                     for n in range(2)))  # fmt: skip
    assert sorted(r.ok for r in results) == [False, True]
    assert [r.message for r in results if not r.ok] == ["Non-pending order cannot be cancelled"]
    assert await balance(any_shop.db, GIFT) == Decimal("204.99"), "refunded once"


# --- backend failures ----------------------------------------------------------------------------------------------


def _failing(real: Any, error: Exception, failures: int, calls: list[int]) -> Any:
    @asynccontextmanager
    async def session() -> AsyncIterator[Any]:
        calls.append(1)
        if len(calls) <= failures:
            raise error
        async with real() as s:
            yield s

    return session


LOST = OperationalError("SELECT 1", {}, ConnectionError("connection lost"))


async def test_a_lost_connection_is_retried_for_reads(shop, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(shop.db, "read", _failing(shop.db.read, LOST, 1, calls))
    result = await shop.call("get_order_details", {"order_id": "#W1001003"})
    assert result.ok and len(calls) == 2


async def test_a_write_is_never_retried(shop, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(shop.db, "session", _failing(shop.db.session, LOST, 1, calls))
    before = await snapshot(shop.db)
    result = await shop.call("cancel_pending_order", {"order_id": "#W1001003", "reason": "no longer needed"},
                             token="tok-lost")  # fmt: skip
    assert result.error == "unavailable" and len(calls) == 1
    assert await snapshot(shop.db) == before


async def test_an_unexpected_error_is_unavailable_and_counts_against_the_breaker(shop, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(shop.db, "read", _failing(shop.db.read, RuntimeError("bug"), 99, calls))
    for _ in range(FAST.breaker_failure_threshold):
        result = await shop.call("get_order_details", {"order_id": "#W1001003"})
        assert result.error == "unavailable"
    assert len(calls) == FAST.breaker_failure_threshold, "only transient errors are retried"
    assert shop.registry.health()["store"] == "open"


# --- hand-over to a human ------------------------------------------------------------------------------------------


async def _tickets(db: StoreDatabase) -> list[tuple[str, str | None, str, str, str, str]]:
    async with db.read() as session:
        rows = await session.scalars(select(Ticket).order_by(Ticket.created_at))
        return [(t.id, t.customer_id, t.conversation_id, t.status, t.reason, t.summary) for t in rows]


async def test_a_transfer_opens_one_ticket_per_conversation(shop):
    first = await shop.call("transfer_to_human_agents", {"summary": "Parcel lost."}, customer=None,
                            conversation="conv-1")  # fmt: skip
    ticket_id = first.data["ticket_id"]
    assert re.fullmatch(r"T-[A-Z0-9]{8}", ticket_id)
    app = shop.settings.app
    assert ticket_id in first.message and app.support_email in first.message and app.support_hours in first.message
    again = await shop.call("transfer_to_human_agents", {"summary": "Parcel lost; order #W1001001."},
                            conversation="conv-1")  # fmt: skip
    assert again.data["ticket_id"] == ticket_id
    other = await shop.call("transfer_to_human_agents", {"summary": "Refund question.", "reason": "policy exception"},
                            customer=OMAR, conversation="conv-2")  # fmt: skip
    assert other.data["ticket_id"] != ticket_id
    assert await _tickets(shop.db) == [
        (ticket_id, DANA, "conv-1", "open", "customer request", "Parcel lost; order #W1001001."),
        (other.data["ticket_id"], OMAR, "conv-2", "open", "policy exception", "Refund question."),
    ]
    async with shop.db.read() as session:
        url = (await session.get_one(Ticket, ticket_id)).transcript_url
    assert url == f"{shop.settings.store.public_url}/thread/conv-1"


async def test_a_solved_ticket_is_not_reopened(shop):
    first = await shop.call("transfer_to_human_agents", {"summary": "First issue."}, conversation="conv-3")
    async with shop.db.session() as session:
        (await session.get_one(Ticket, first.data["ticket_id"])).status = "solved"
    second = await shop.call("transfer_to_human_agents", {"summary": "New issue."}, conversation="conv-3")
    assert second.data["ticket_id"] != first.data["ticket_id"]
    assert len(await _tickets(shop.db)) == 2
