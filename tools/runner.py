"""Run business tools outside the chat: the Python API behind `python -m tools call`.

    runner = await ToolRunner.open(settings)
    result = await runner.call("cancel_pending_order", {"order_id": "#W1001003", "reason": "ordered by mistake"},
                               as_customer="dana_whitfield_1001", confirm=True)

Without `confirm` a write only previews (a `needs_confirmation` result with its summary); with it, the
write applies at once. `idempotency_key` makes a retried confirmed call apply once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from tools.settings import ToolConfig
from tools.base import ToolCall, ToolContext, ToolResult
from tools.catalog import store_tools
from tools.registry import ToolRegistry
from tools.store.db import StoreDatabase
from tools.store.migrate import migrate_store


@dataclass
class ToolRunner:
    registry: ToolRegistry
    db: StoreDatabase

    @classmethod
    async def open(cls, settings: ToolConfig, database_url: str | None = None) -> ToolRunner:
        db = StoreDatabase.from_settings(settings, database_url)
        await migrate_store(db.url, db.schema)
        return cls(ToolRegistry(store_tools(db, settings), settings.tools), db)

    async def call(self, tool: str, arguments: dict[str, Any] | str, *, as_customer: str | None = None,
                   confirm: bool = False, idempotency_key: str | None = None) -> ToolResult:
        raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
        token = (idempotency_key or f"cli-{uuid.uuid4().hex}") if confirm else None
        ctx = ToolContext(conversation_id=f"cli-{uuid.uuid4().hex[:12]}", customer_id=as_customer, confirmation=token)
        return await self.registry.run(ToolCall(f"cli-{uuid.uuid4().hex[:8]}", tool, raw), ctx)

    async def close(self) -> None:
        await self.db.dispose()


def result_json(result: ToolResult) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": result.ok, "data": result.data, "message": result.message}
    if not result.ok:
        body["error"] = result.error
    return body
