"""Business tools on the SQL store: preview-then-confirm writes applied once per token (also on PostgreSQL),
transient backend errors, and help-desk tickets.

The shop, its fixtures and the constants these files share are in tests/store_fixtures.py.
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

from tests.store_fixtures import (
    ADDRESS, BLUE_L, BLUE_M, CARD, DANA, FAST, GIFT, OMAR, balance, count, order_doc, snapshot,
)  # fmt: skip
from tests.store_fixtures import any_shop, shop  # noqa: F401  (fixtures)
from tools.store.access import TOKEN_REUSED
from tools.store.db import StoreDatabase
from tools.store.models import AppliedAction, Ticket

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
    # The workspace's page for the conversation (staff only; it opens the read-only transcript), not /thread/,
    # which is the customer's own page.
    assert url == f"{shop.settings.store.public_url}/workspace/conversations/conv-1"


async def test_a_solved_ticket_is_not_reopened(shop):
    first = await shop.call("transfer_to_human_agents", {"summary": "First issue."}, conversation="conv-3")
    async with shop.db.session() as session:
        (await session.get_one(Ticket, first.data["ticket_id"])).status = "solved"
    second = await shop.call("transfer_to_human_agents", {"summary": "New issue."}, conversation="conv-3")
    assert second.data["ticket_id"] != first.data["ticket_id"]
    assert len(await _tickets(shop.db)) == 2
