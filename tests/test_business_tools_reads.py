"""Business tools on the SQL store, called through the real registry: which tools exist, identification
(nobody else's records are visible), and the read-only tools.

The shop, its fixtures and the constants these files share are in tests/store_fixtures.py.
"""

from __future__ import annotations

import pytest

from agent.settings import Settings, ToolSettings
from tests.store_fixtures import (
    ADDRESS, BLACK_WIRELESS, BLUE_L, BLUE_M, BLUE_WIRED, CARD, DANA, GIFT, HEADPHONES, KEYBOARD, LOW_GIFT, NOWHERE,
    OMAR, OMAR_GIFT, PAYPAL, RED_M, RED_WIRED, SHIRT, TACTILE, WHITE_WIRELESS, not_found, order_doc, snapshot,
)  # fmt: skip
from tests.store_fixtures import any_shop, shop  # noqa: F401  (fixtures)
from tools import inventory, orders
from tools.base import ToolResult
from tools.catalog import store_tools
from tools.store.access import IDENTIFY_FIRST

# --- the catalogue of tools ----------------------------------------------------------------------------------------


def test_store_tools_declare_what_they_are(shop):
    tools = {t.name: t for t in store_tools(shop.db, Settings())}
    assert ToolSettings().enabled == [], "by default every registered tool is offered: no list to keep in step"
    writes = {name for name, t in tools.items() if t.writes}
    assert writes == {
        "modify_user_address", "cancel_pending_order", "modify_pending_order_address", "modify_pending_order_items",
        "modify_pending_order_payment", "return_delivered_order_items", "exchange_delivered_order_items",
    }  # fmt: skip
    assert all(tools[name].acts_on for name in writes), "a newer card for the same record replaces the older one"
    assert {name for name, t in tools.items() if t.hands_over} == {"transfer_to_human_agents"}
    assert {name for name, t in tools.items() if t.identifies} == {"find_user_id_by_email", "find_user_id_by_name_zip"}
    assert not any(tools[name].retried for name in writes | {"transfer_to_human_agents"}), "writes are never retried"
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
