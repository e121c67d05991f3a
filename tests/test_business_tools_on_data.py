"""The write tools on real data: the seeded demo shop and the imported τ-bench retail file.

Each case is picked from the data, applied through the registry with confirmation, and the whole
exported store is compared with what τ-bench's semantics predict (tests/taubench_reference.py):
the one order and customer change exactly as predicted, and nothing else does.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests import taubench_reference as reference
from tests.conftest import require, shared_data
from tests.postgres import run_sync
from tests.store_fixtures import Shop
from tools.store.db import StoreDatabase
from tools.store.migrate import migrate_store
from tools.store.seed import DANA_ID, seed_demo
from tools.store.taubench import export_json, import_json

TAUBENCH = shared_data("taubench-retail/db.json")
DEMO_CUSTOMERS = 40  # enough generated customers for every order status; seeding stays fast
DEMO_SEED = 7
NEW_ADDRESS = {"address1": "1 Congress Ave", "address2": "Suite 5", "city": "Austin", "country": "USA",
               "state": "TX", "zip": "78701"}  # fmt: skip
Doc = dict[str, Any]


async def _fill(url: str, source: str) -> None:
    await migrate_store(url)
    db = StoreDatabase(url)
    try:
        if source == "demo":
            await seed_demo(db, DEMO_CUSTOMERS, DEMO_SEED)
        else:
            await import_json(db, json.loads(TAUBENCH.read_text()))
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> Callable[[str], Path]:
    """A filled SQLite store per source, built once per module and copied for every test."""
    built: dict[str, Path] = {}

    def template(source: str) -> Path:
        if source not in built:
            if source == "taubench":
                require(TAUBENCH.exists(), f"the τ-bench retail data is not at {TAUBENCH}")
            path = tmp_path_factory.mktemp(source) / "store.db"
            run_sync(_fill(f"sqlite+aiosqlite:///{path}", source))
            built[source] = path
        return built[source]

    return template


@asynccontextmanager
async def _copy(template: Path, folder: Path) -> AsyncIterator[Shop]:
    path = folder / "store.db"
    shutil.copy(template, path)
    db = StoreDatabase(f"sqlite+aiosqlite:///{path}")
    try:
        yield Shop(db)
    finally:
        await db.dispose()


@pytest.fixture(params=["demo", "taubench"])
async def data_shop(request, templates, tmp_path) -> AsyncIterator[Shop]:
    async with _copy(templates(request.param), tmp_path) as shop:
        yield shop


@pytest.fixture
async def demo_shop(templates, tmp_path) -> AsyncIterator[Shop]:
    async with _copy(templates("demo"), tmp_path) as shop:
        yield shop


# --- picking cases from the data -----------------------------------------------------------------------------------


def _orders(doc: Doc, status: str) -> list[Doc]:
    return [order for _, order in sorted(doc["orders"].items()) if order["status"] == status]


def _alternative(doc: Doc, line: Doc) -> str | None:
    variants = doc["products"][line["product_id"]]["variants"]
    return next((v["item_id"] for v in variants.values() if v["available"] and v["item_id"] != line["item_id"]), None)


def _is_gift(doc: Doc, user_id: str, payment_method_id: str) -> bool:
    return doc["users"][user_id]["payment_methods"][payment_method_id]["source"] == "gift_card"


def _gift_cards_first(doc: Doc, candidates: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """The first candidate (order, ..., payment method id) that moves gift-card money, else the first one."""
    assert candidates, "the data has no order for this case"
    return next((c for c in candidates if _is_gift(doc, c[0]["user_id"], c[-1])), candidates[0])


def _usable(doc: Doc, user_id: str, amount: Any) -> list[str]:
    methods = doc["users"][user_id]["payment_methods"].values()
    return [m["id"] for m in methods if m["source"] != "gift_card" or m["balance"] >= amount]


def _swap(doc: Doc, status: str) -> tuple[Any, ...]:
    """(order, item id, new item id, payment method id): a line with another available variant."""
    candidates = []
    for order in _orders(doc, status):
        for line in order["items"]:
            new_id = _alternative(doc, line)
            if new_id is not None:
                diff = float(reference._difference(doc, order, [line["item_id"]], [new_id]))
                candidates += [(order, line["item_id"], new_id, m) for m in _usable(doc, order["user_id"], diff)]
    return _gift_cards_first(doc, candidates)


def _payment_change(doc: Doc) -> tuple[Any, ...]:
    """(pending order, another usable payment method id)."""
    candidates = []
    for order in _orders(doc, "pending"):
        [paid] = order["payment_history"]
        usable = _usable(doc, order["user_id"], paid["amount"])
        candidates += [(order, m) for m in usable if m != paid["payment_method_id"]]
    return _gift_cards_first(doc, candidates)


@dataclass(frozen=True)
class Case:
    customer: str
    tool: str
    arguments: dict[str, Any]
    predict: Callable[[Doc], None]  # the τ-bench effect on a document


def cancel(doc: Doc) -> Case:
    pending = [(o, o["payment_history"][0]["payment_method_id"]) for o in _orders(doc, "pending")]
    order = _gift_cards_first(doc, pending)[0]
    args = {"order_id": order["order_id"], "reason": "ordered by mistake"}
    return Case(order["user_id"], "cancel_pending_order", args, partial(reference.cancel_pending_order, **args))


def _swap_arguments(order: Doc, item_id: str, new_id: str, method: str) -> dict[str, Any]:
    return {"order_id": order["order_id"], "item_ids": [item_id], "new_item_ids": [new_id], "payment_method_id": method}


def modify_items(doc: Doc) -> Case:
    order, *swap = _swap(doc, "pending")
    args = _swap_arguments(order, *swap)
    return Case(order["user_id"], "modify_pending_order_items", args,
                partial(reference.modify_pending_order_items, **args))  # fmt: skip


def exchange(doc: Doc) -> Case:
    order, *swap = _swap(doc, "delivered")
    args = _swap_arguments(order, *swap)
    return Case(order["user_id"], "exchange_delivered_order_items", args,
                partial(reference.exchange_delivered_order_items, **args))  # fmt: skip


def modify_payment(doc: Doc) -> Case:
    order, method = _payment_change(doc)
    args = {"order_id": order["order_id"], "payment_method_id": method}
    return Case(order["user_id"], "modify_pending_order_payment", args,
                partial(reference.modify_pending_order_payment, **args))  # fmt: skip


def modify_order_address(doc: Doc) -> Case:
    order = _orders(doc, "pending")[-1]
    predict = partial(reference.modify_pending_order_address, order_id=order["order_id"], address=NEW_ADDRESS)
    return Case(order["user_id"], "modify_pending_order_address", {"order_id": order["order_id"], **NEW_ADDRESS},
                predict)  # fmt: skip


def modify_user_address(doc: Doc) -> Case:
    user_id = sorted(doc["users"])[0]
    predict = partial(reference.modify_user_address, user_id=user_id, address=NEW_ADDRESS)
    return Case(user_id, "modify_user_address", {"user_id": user_id, **NEW_ADDRESS}, predict)


def return_items(doc: Doc) -> Case:
    order = _orders(doc, "delivered")[0]
    args = {"order_id": order["order_id"], "item_ids": [line["item_id"] for line in order["items"]],
            "payment_method_id": order["payment_history"][0]["payment_method_id"]}  # fmt: skip
    return Case(order["user_id"], "return_delivered_order_items", args,
                partial(reference.return_delivered_order_items, **args))  # fmt: skip


CASES = [cancel, modify_items, modify_payment, modify_order_address, modify_user_address, return_items, exchange]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
async def test_a_confirmed_write_changes_the_store_as_taubench_predicts(data_shop, case):
    before = await export_json(data_shop.db)
    picked = case(before)
    customer, tool, arguments = picked.customer, picked.tool, picked.arguments
    preview = await data_shop.call(tool, arguments, customer=customer)
    assert preview.error == "needs_confirmation", preview.message
    assert await export_json(data_shop.db) == before, "a preview changes nothing"
    applied = await data_shop.call(tool, arguments, customer=customer, token="tok-data")
    assert applied.ok, applied.message
    expected = copy.deepcopy(before)
    picked.predict(expected)
    after = await export_json(data_shop.db)
    assert after == expected
    document = after["users"][customer] if tool == "modify_user_address" else after["orders"][arguments["order_id"]]
    assert applied.data == preview.data["preview"] == document


async def test_cancelling_danas_gift_card_order_in_the_demo_shop(demo_shop):
    before = await export_json(demo_shop.db)
    paid = before["orders"]["#W1001003"]["payment_history"][0]
    assert paid["payment_method_id"] == "gift_card_1001001"
    arguments = {"order_id": "W1001003", "reason": "no longer needed"}
    result = await demo_shop.call("cancel_pending_order", arguments, customer=DANA_ID, token="tok-demo")
    total = reference._cents(paid["amount"])
    after = reference._cents(150) + total
    assert result.message == (
        f"Order #W1001003 is cancelled. ${total} is refunded to your gift card (gift_card_1001001) right away; "
        f"its balance is now ${after}."
    )


async def test_identification_on_the_data(data_shop):
    doc = await export_json(data_shop.db)
    user_id = sorted(doc["users"])[0]
    user = doc["users"][user_id]
    by_email = await data_shop.call("find_user_id_by_email", {"email": user["email"].upper()}, customer=None)
    name = {"first_name": user["name"]["first_name"].lower(), "last_name": user["name"]["last_name"].upper(),
            "zip": user["address"]["zip"]}  # fmt: skip
    by_name = await data_shop.call("find_user_id_by_name_zip", name, customer=None)
    assert by_email.identified == by_name.identified == user_id
    someone_else = next(o for o in sorted(doc["orders"]) if doc["orders"][o]["user_id"] != user_id)
    probe = await data_shop.call("get_order_details", {"order_id": someone_else}, customer=user_id)
    assert probe.error == "not_found"


async def test_catalogue_reads_match_the_data(data_shop):
    doc = await export_json(data_shop.db)
    types = (await data_shop.call("list_all_product_types")).data
    assert types == {p["name"]: p["product_id"] for p in sorted(doc["products"].values(), key=lambda p: p["name"])}
    some = next(iter(doc["products"].values()))
    details = await data_shop.call("get_product_details", {"product_id": some["product_id"]})
    assert details.data == some
    found = await data_shop.call("search_products", {"query": some["name"], "available_only": False})
    assert some["product_id"] in {p["product_id"] for p in found.data}


async def test_account_reads_and_refusals_on_the_data(data_shop):
    """Every account read answers from the customer's own records; the rules refuse the wrong status."""
    doc = await export_json(data_shop.db)
    delivered = _orders(doc, "delivered")[0]
    customer = delivered["user_id"]
    user = doc["users"][customer]
    assert (await data_shop.call("get_user_details", {"user_id": customer}, customer=customer)).data == user
    assert (await data_shop.call("get_order_details", {"order_id": delivered["order_id"]},
                                 customer=customer)).data == delivered  # fmt: skip
    listed = (await data_shop.call("list_my_orders", customer=customer)).data
    assert {o["order_id"] for o in listed} == set(user["orders"])
    for tool in ("track_order", "get_refund_status", "get_invoice"):
        result = await data_shop.call(tool, {"order_id": delivered["order_id"]}, customer=customer)
        assert result.ok and delivered["order_id"] in json.dumps(result.data), (tool, result.message)

    item = delivered["items"][0]["item_id"]
    refusals = {
        "cancel_pending_order": {"order_id": delivered["order_id"], "reason": "no longer needed"},
        "modify_pending_order_address": {"order_id": delivered["order_id"], **NEW_ADDRESS},
    }
    for tool, arguments in refusals.items():
        result = await data_shop.call(tool, arguments, customer=customer)
        assert result.error == "invalid" and "Non-pending order" in result.message, (tool, result.message)
    pending = next(o for o in _orders(doc, "pending") if o["user_id"] in doc["users"])
    result = await data_shop.call("return_delivered_order_items", {
        "order_id": pending["order_id"], "item_ids": [pending["items"][0]["item_id"]],
        "payment_method_id": pending["payment_history"][0]["payment_method_id"]}, customer=pending["user_id"])
    assert result.error == "invalid" and "Non-delivered order cannot be returned" in result.message
    assert (await data_shop.call("return_delivered_order_items", {
        "order_id": delivered["order_id"], "item_ids": [item], "payment_method_id": "credit_card_0000000"},
        customer=customer)).error == "not_found"  # fmt: skip
    assert await export_json(data_shop.db) == doc, "refusals change nothing"
