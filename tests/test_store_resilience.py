"""The store backend slow, flaky and down: tools answer with typed results, the breaker opens and recovers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from agent.settings import ToolSettings
from tests.store_fixtures import Shop, build_store
from tools.resilience import CircuitBreaker
from tools.store.db import StoreDatabase

SETTINGS = ToolSettings(timeout_s=0.2, retry_attempts=2, retry_backoff_s=0, breaker_failure_threshold=3,
                        breaker_reset_s=30)


class Outage:
    """Wraps the store's read sessions: `mode` is "up", "slow" (never answers in time) or "down"."""

    def __init__(self, db: StoreDatabase) -> None:
        self.real = db.read
        self.mode = "up"
        self.opened = 0

    @asynccontextmanager
    async def read(self) -> AsyncIterator[object]:
        self.opened += 1
        if self.mode == "slow":
            await asyncio.sleep(10)
        if self.mode == "down":
            raise RuntimeError("store connection refused")
        async with self.real() as session:
            yield session


@pytest.fixture
async def shop(tmp_path, monkeypatch) -> AsyncIterator[tuple[Shop, Outage, list[float]]]:
    db = StoreDatabase(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await build_store(db)
    shop = Shop(db)
    shop.registry.settings = SETTINGS
    now = [0.0]
    shop.registry._breakers["store"] = CircuitBreaker("store", SETTINGS.breaker_failure_threshold,
                                                      SETTINGS.breaker_reset_s, clock=lambda: now[0])
    outage = Outage(db)
    monkeypatch.setattr(db, "read", outage.read)
    yield shop, outage, now
    await db.dispose()


ORDER = {"order_id": "#W1001003"}


async def test_a_slow_store_times_out_into_an_unavailable_result(shop):
    shop, outage, _ = shop
    outage.mode = "slow"
    result = await shop.call("get_order_details", ORDER)
    assert result.error == "unavailable" and "temporarily unavailable" in result.message
    assert outage.opened == SETTINGS.retry_attempts, "a timed-out read is retried, then given up"


async def test_breaker_opens_when_the_store_is_down_then_recovers(shop, caplog):
    shop, outage, now = shop
    caplog.set_level(logging.INFO, logger="tools.resilience")
    outage.mode = "down"
    for _ in range(SETTINGS.breaker_failure_threshold):
        assert (await shop.call("get_order_details", ORDER)).error == "unavailable"
    assert shop.registry.health()["store"] == "open"
    assert "circuit store opened" in caplog.text
    calls = outage.opened
    assert (await shop.call("list_my_orders")).error == "unavailable"
    assert outage.opened == calls, "an open circuit spares the store"

    outage.mode = "up"
    now[0] += SETTINGS.breaker_reset_s + 1
    assert shop.registry.health()["store"] == "half_open"
    result = await shop.call("get_order_details", ORDER)
    assert result.ok and result.data["order_id"] == "#W1001003"
    assert shop.registry.health()["store"] == "closed"
    assert "circuit store closed again" in caplog.text


async def test_a_flaky_store_is_hidden_by_retries(shop):
    shop, outage, _ = shop
    real = outage.read
    failures = [1]

    @asynccontextmanager
    async def flaky() -> AsyncIterator[object]:
        if failures:
            failures.pop()
            raise ConnectionError("connection reset")
        async with real() as session:
            yield session

    shop.db.read = flaky  # type: ignore[method-assign]
    assert (await shop.call("get_order_details", ORDER)).ok
    assert shop.registry.health()["store"] == "closed"
