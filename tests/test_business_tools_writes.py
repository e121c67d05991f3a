"""Business tools on the SQL store: τ-bench retail's write rules (refused, nothing changes) and the effects
of confirmed writes. Effects also run on PostgreSQL.

The shop, its fixtures and the constants these files share are in tests/store_fixtures.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.store_fixtures import (
    ADDRESS, BLACK_WIRELESS, BLUE_L, BLUE_M, BLUE_WIRED, CARD, CLICKY, DANA, GIFT, LINEAR, LOW_GIFT, PAYPAL, RED_M,
    TACTILE, WHITE_WIRELESS, balance, order_doc, snapshot,
)  # fmt: skip
from tests.store_fixtures import any_shop, shop  # noqa: F401  (fixtures)

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
