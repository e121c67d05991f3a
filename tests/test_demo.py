"""The demo conversations `make run` seeds (agent/demo.py): played through the chat service once, spread back in
time, rated, and never at the expense of a customer's rate limit. The whole demo on the offline engine runs in
tests/test_browser_workspace.py; here a scripted model keeps it small and exact.
"""

from __future__ import annotations

from datetime import timedelta

from agent.datalayer.store_rows import feedbacks
from agent.demo import DOWN, UP, DemoChat, seed_demo_conversations
from agent.models.scripted import ScriptedModel
from agent.sessions.memory import MemoryRateLimiter
from tests.datalayer_fixtures import chat_store, no_database_env  # noqa: F401 (fixtures)
from tests.facts_fixtures import chat, facts_of
from tools.store.db import StoreDatabase
from tools.store.migrate import migrate_store
from tools.store.sql import utcnow

CHATS = (DemoChat("sam@example.com", 3, ["How long do I have to return an item?"], UP),
         DemoChat(None, 0, ["Do you sell cars?", "And bikes?"], DOWN))  # fmt: skip


async def test_seeded_once_back_in_time_rated_and_past_any_rate_limit(chat_store, tmp_path) -> None:
    store = chat_store
    shop_url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    await migrate_store(shop_url)
    shop = StoreDatabase(shop_url)
    service = chat(store, ScriptedModel(["You have 30 days [1].", "I don't know.", "Not that either."]))
    service.limiter = MemoryRateLimiter(per_minute=0.001, burst=0)  # every customer message would be refused
    try:
        assert await seed_demo_conversations(service, store, shop, CHATS) == 2
        assert await seed_demo_conversations(service, store, shop, CHATS) == 0, "seeded twice"
    finally:
        await shop.dispose()

    async with store.engine.connect() as conn:
        ratings = sorted(row.value for row in await conn.execute(feedbacks.select()))
    assert ratings == [DOWN, UP]
    page, _ = await store.thread_page(first=10)  # every thread, newest first
    assert len(page) == 2
    sam, visitor = sorted(page, key=lambda thread: thread["createdAt"])
    assert sam["name"] == "How long do I have to return an item?" and sam["userIdentifier"] == "sam@example.com"
    facts = await facts_of(store, sam["id"])
    assert facts is not None and facts["counts"]["turns"] == 1 and facts["counts"]["last_rating"] == UP
    moved = utcnow() - facts["started_at"]
    assert timedelta(days=3) <= moved < timedelta(days=3, minutes=5), "not moved back three days"
    assert (await facts_of(store, visitor["id"]))["counts"]["turns"] == 2
