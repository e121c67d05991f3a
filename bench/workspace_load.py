"""Write the synthetic conversations (bench/workspace_data.py) into a chat-history database, fast.

Both histories are migrated into the same database and schema (chat tables, and the shop store's tables for the
tickets). Conversations are planned and written in batches, one transaction each: PostgreSQL gets COPY through
asyncpg (about ten times faster than INSERT for a million steps), SQLite gets SQLAlchemy's executemany.
Content gaps carry float32 vectors of their question's template, embedded once per distinct template.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import JSON, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer import models
from agent.datalayer.migrate import migrate
from agent.offline.intents import load_examples
from bench import workspace_data as data
from tools.store import models as store_models
from tools.store.migrate import migrate_store
from tools.store.sql import make_engine

Embed = Callable[[list[str]], np.ndarray]
BATCH = 2000  # conversations per transaction (about 20,000 steps)
CUSTOMERS = 400
PROGRESS_EVERY = 10_000  # conversations between progress lines
# Parents before children: the foreign keys hold at every commit.
ORDER = ("threads", "steps", "feedbacks", "facts", "items", "gaps")
TABLES = {"threads": models.Thread.__table__, "steps": models.Step.__table__, "feedbacks": models.Feedback.__table__,
          "facts": models.ConversationFacts.__table__, "items": models.FactItem.__table__,
          "gaps": models.ContentGap.__table__}  # fmt: skip


async def _write(conn: AsyncConnection, table: Any, rows: Sequence[dict[str, Any]], schema: str) -> None:
    """Rows (dicts by column name; keys the table lacks are dropped) into `table`."""
    if not rows:
        return
    columns = [c for c in table.columns if c.name in rows[0]]
    if conn.dialect.name != "postgresql":
        await conn.execute(table.insert(), [{c.name: row[c.name] for c in columns} for row in rows])
        return
    json_columns = {c.name for c in columns if isinstance(c.type, JSON)}

    def cell(row: dict[str, Any], name: str) -> Any:
        value = row[name]
        return json.dumps(value) if name in json_columns and value is not None else value

    records = [tuple(cell(row, c.name) for c in columns) for row in rows]
    raw = (await conn.get_raw_connection()).driver_connection
    await raw.copy_records_to_table(table.name, records=records, columns=[c.name for c in columns],
                                    schema_name=schema or None)


def _embed_gaps(gaps: list[dict[str, Any]], embed: Embed, cache: dict[str, bytes]) -> None:
    """Fill each gap's `embedding` from its template's vector (float32 bytes), embedding new templates once."""
    new = sorted({g["template"] for g in gaps} - cache.keys())
    if new:
        vectors = np.asarray(embed(new), dtype=np.float32)
        cache.update({template: vectors[n].tobytes() for n, template in enumerate(new)})
    for gap in gaps:
        gap["embedding"] = cache[gap.pop("template")]


async def thread_count(url: str, schema: str) -> int:
    """How many conversations the schema holds (0 when it has no chat tables yet)."""
    engine = make_engine(url, schema)
    try:
        async with engine.connect() as conn:
            present = await conn.run_sync(lambda c: inspect(c).has_table("threads", schema=schema or None))
            if not present:
                return 0
            return int((await conn.execute(select(func.count()).select_from(models.Thread.__table__))).scalar_one())
    finally:
        await engine.dispose()


async def generate(url: str, schema: str, conversations: int, embed: Embed, *, seed: int = 11,
                   end: datetime = data.END, customers: int = CUSTOMERS, batch: int = BATCH,
                   progress: Callable[[str], None] = print) -> None:
    """Write `conversations` synthetic conversations (and their users, facts, gaps, tickets) into url/schema,
    started over the SPAN_DAYS before `end`. Expects none there yet (ids are seeded: a second run collides)."""
    await migrate(url, schema)
    await migrate_store(url, schema)
    rng = random.Random(seed)
    examples = load_examples()
    everyone = data.people(rng, customers)
    engine = make_engine(url, schema)
    cache: dict[str, bytes] = {}
    started = time.perf_counter()
    try:
        async with engine.begin() as conn:
            await _write(conn, models.User.__table__, data.user_rows(everyone, end), schema)
            await _write(conn, store_models.Customer.__table__, data.store_customer_rows(everyone), schema)
        done = 0
        while done < conversations:
            rows = data.plan(rng, examples, everyone, min(batch, conversations - done), end)
            _embed_gaps(rows.gaps, embed, cache)
            async with engine.begin() as conn:
                for name in ORDER:
                    await _write(conn, TABLES[name], getattr(rows, name), schema)
                await _write(conn, store_models.Ticket.__table__, rows.tickets, schema)
                await _write(conn, store_models.TicketEvent.__table__, rows.ticket_events, schema)
            done += len(rows.threads)
            if done % PROGRESS_EVERY < batch or done == conversations:
                rate = done / (time.perf_counter() - started)
                progress(f"  {done:,} / {conversations:,} conversations ({rate:,.0f}/s)")
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # fresh statistics, or the planner guesses as if tables were empty
                prefix = conn.dialect.identifier_preparer.quote_schema(schema) + "." if schema else ""
                for table in [*TABLES.values(), models.User.__table__, store_models.Ticket.__table__]:
                    await conn.execute(text(f"ANALYZE {prefix}{table.name}"))
    finally:
        await engine.dispose()
