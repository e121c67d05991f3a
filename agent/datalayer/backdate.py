"""Move a whole conversation back in time: for demo data, which must look like a few weeks of support.

Times are rewritten in Python, row by row, because SQLite keeps them as text and has no date arithmetic that
SQLAlchemy can express portably. Demo conversations are small; nothing else should need this.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer import models
from agent.datalayer.store_base import StoreBase

# Each table with a thread_id, and the time columns it holds.
TIMED: tuple[tuple[Table, tuple[str, ...]], ...] = (
    (models.Thread.__table__, ("created_at", "updated_at")),
    (models.Step.__table__, ("created_at", "start_at", "end_at")),
    (models.Element.__table__, ("created_at",)),
    (models.Feedback.__table__, ("created_at",)),
    (models.ConversationFacts.__table__, ("started_at", "last_customer_at", "last_answer_at", "updated_at")),
    (models.ContentGap.__table__, ("asked_at",)),
)


async def backdate_conversation(store: StoreBase, thread_id: str, by: timedelta) -> None:
    """Every stored time of the conversation `thread_id` moves `by` earlier, in one transaction."""

    async def run(conn: AsyncConnection) -> None:
        for table, columns in TIMED:
            owner = table.c.id if table.name == "threads" else table.c.thread_id
            keys = list(table.primary_key.columns)
            rows = (await conn.execute(select(*keys, *(table.c[c] for c in columns)).where(owner == thread_id))).all()
            for row in rows:
                m = row._mapping
                moved = {c: m[c] - by for c in columns if m[c] is not None}
                if moved:
                    await conn.execute(update(table).where(*(k == m[k.name] for k in keys)).values(**moved))

    await store.transaction("backdate_conversation", thread_id, run)
