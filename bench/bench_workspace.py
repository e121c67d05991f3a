"""The support-lead workspace at 100,000 conversations: what a lead waits for, page by page.

Data: bench/workspace_data.py writes `--conversations` synthetic conversations (about 11 steps each, ratings,
tickets, intents, tools, content gaps with their vectors) into `--schema` on PostgreSQL; `--reuse` keeps a schema
that already holds exactly that many. A second schema, `<schema>_small`, gets `--baseline-conversations`.

Measured: the real routes of agent/web/workspace.py and agent/web/analytics.py (query, template, CSV writer),
called in-process through ASGI as a signed-in lead (only sign-in itself is left out: the guard's role lookup in
the users table is measured), on the app's own engine (tools.store.sql.make_engine). Each case: one warm-up,
then the median of `--rounds` calls. A CSV download is timed twice: to its first rows (what the lead waits for
before the file starts arriving) and to its last byte. The rounds matter: from the sixth run of a prepared
statement PostgreSQL may switch to a generic plan.

Baseline: the same request against the small schema, in the same run and process: what the page costs when
there is almost no data. The ratio is what 100x the data adds; the target is absolute: every page < 0.5 s.

    .venv/bin/python bench/bench_workspace.py [--conversations 100000] [--reuse] [--rounds 7]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test] [--schema bench_workspace]
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
import chainlit as cl  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from agent.datalayer.migrate import migrate  # noqa: E402
from agent.datalayer.storage import LocalStorage  # noqa: E402
from agent.datalayer.store import ChatStore  # noqa: E402
from agent.datalayer.store_rows import steps, threads  # noqa: E402
from agent.datalayer.workspace import Cursor, WorkspaceQueries  # noqa: E402
from agent.settings import AnalyticsSettings  # noqa: E402
from agent.web.routes import signed_in_or_none  # noqa: E402
from agent.web.workspace import PAGE_SIZE, workspace_routes  # noqa: E402
from bench.workspace_data import LEADS  # noqa: E402
from bench.workspace_load import generate, thread_count  # noqa: E402
from knowledge.embedder import Embedder  # noqa: E402

TARGET_S = 0.5
DEEP_PAGES = 20
OURS = re.compile(r"^bench_[a-z0-9_]+$")  # the only schemas this benchmark ever drops
ROW_MARK = b'href="/share/'  # one per conversation row in the list's HTML
CSV_ROUTE = "/workspace/conversations.csv"


@dataclass(frozen=True)
class Case:
    label: str
    path: str  # with its query string


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    first_s: float  # until the first rows: the page, or a CSV's first chunk after its header line
    seconds: float  # until the last byte


async def call(app: FastAPI, path: str) -> Reply:
    """GET `path` from the ASGI app in-process; the time runs until the last byte of the body."""
    route, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": route, "raw_path": route.encode(), "root_path": "",
             "query_string": query.encode(), "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 9),
             "server": ("bench", 80)}  # fmt: skip
    done, asked, status, chunks, times = asyncio.Event(), False, 0, [], []

    async def receive() -> dict:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # a streaming response listens for the client leaving; we never leave early
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and message.get("body"):
            chunks.append(message["body"])
            times.append(time.perf_counter())

    start = time.perf_counter()
    await app(scope, receive, send)
    seconds = time.perf_counter() - start
    done.set()
    streamed = route.endswith(".csv") and len(times) > 1  # the header line goes out before any query runs
    first = (times[1] if streamed else times[0]) - start if times else seconds
    return Reply(status, b"".join(chunks), first, seconds)


def rows_in(path: str, body: bytes) -> int | None:
    if path.startswith(CSV_ROUTE):
        return body.count(b"\r\n") - 1  # less the header line
    if path.startswith("/workspace/conversations"):
        return body.count(ROW_MARK)
    return None


async def measure(app: FastAPI, case: Case, rounds: int) -> tuple[float, float, int | None]:
    """(median seconds to the first rows, median seconds to the last byte, rows) after one warm-up call."""
    warm = await call(app, case.path)
    if warm.status != 200:
        raise RuntimeError(f"{case.label}: {case.path} answered {warm.status}: {warm.body[:300]!r}")
    replies = [await call(app, case.path) for _ in range(rounds)]
    med = statistics.median
    return med(r.first_s for r in replies), med(r.seconds for r in replies), rows_in(case.path, warm.body)


def app_for(store: ChatStore, embedder: Embedder) -> FastAPI:
    """The workspace routes alone, with the first lead signed in (sign-in is Chainlit's, not measured)."""
    app = FastAPI()
    app.include_router(workspace_routes(store, True, analytics=AnalyticsSettings(), embedder=embedder))
    app.dependency_overrides[signed_in_or_none] = lambda: cl.User(identifier=LEADS[0])
    return app


async def drop_schema(url: str, schema: str) -> None:
    if not OURS.match(schema):
        raise SystemExit(f"refusing to drop schema {schema!r}: only bench_* schemas are the benchmark's own")
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


async def ensure_data(url: str, schema: str, conversations: int, reuse: bool, embedder: Embedder) -> None:
    held = await thread_count(url, schema)
    if reuse and held == conversations:
        await migrate(url, schema)  # the newest indexes, on data generated before they existed
        print(f"{schema}: reusing {held:,} conversations")
        return
    await drop_schema(url, schema)
    print(f"{schema}: generating {conversations:,} conversations")
    start = time.perf_counter()
    today = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    await generate(url, schema, conversations, embedder.embed, end=today)
    print(f"{schema}: generated in {time.perf_counter() - start:.0f} s")


async def landmarks(store: ChatStore) -> dict[str, str]:
    """Values the cases need from the data: the newest day, an order number asked about in one conversation
    near the middle, the cursor after DEEP_PAGES pages and the cursor in the middle of the whole list."""
    queries = WorkspaceQueries(store)
    cursor = None
    for _ in range(DEEP_PAGES):
        cursor = (await queries.conversations(None, PAGE_SIZE, cursor)).next_cursor
    async with store.engine.connect() as conn:
        newest = (await conn.execute(select(func.max(threads.c.created_at)))).scalar_one()
        total = (await conn.execute(select(func.count()).select_from(threads))).scalar_one()
        middle = (await conn.execute(select(threads.c.created_at, threads.c.id)
                                     .order_by(threads.c.created_at.desc(), threads.c.id.desc())
                                     .offset(total // 2).limit(1))).one()
        said = (await conn.execute(
            select(steps.c.output).join(threads, threads.c.id == steps.c.thread_id)
            .where(threads.c.created_at <= middle.created_at, steps.c.type == "assistant_message",
                   steps.c.output.like("%#W%"))
            .order_by(threads.c.created_at.desc()).limit(1)
        )).scalar()  # fmt: skip
    order = re.search(r"#W\d{7}", said or "")
    return {"last_day": newest.date().isoformat(), "order": order.group(0) if order else "#W0000000",
            "deep": cursor.encode() if cursor else "", "middle": Cursor(middle.created_at, middle.id).encode()}


def cases(marks: dict[str, str]) -> list[Case]:
    last = date.fromisoformat(marks["last_day"])

    def page(label: str, route: str = "/workspace/conversations", **params: str) -> Case:
        return Case(label, route + ("?" + urllib.parse.urlencode(params) if params else ""))

    return [
        page("list, first page"),
        page(f"list, page {DEEP_PAGES + 1} (cursor)", cursor=marks["deep"]),
        page("list, middle of the range (cursor)", cursor=marks["middle"]),
        page("filter: last rating 👎", rating="down"),
        page("filter: unrated", rating="unrated"),
        page("filter: escalated", escalated="yes"),
        page("filter: ticket open", ticket="open"),
        page("filter: tool cancel_pending_order", tool="cancel_pending_order"),
        page("filter: intent refund_status", intent="refund_status"),
        page("filter: assistant did not know", did_not_know="yes"),
        page("filter: customer 'whitfield'", customer="whitfield"),
        page("filter: last 7 days + 👎", rating="down", **{"from": (last - timedelta(days=6)).isoformat()}),
        page("search 'refund' (common)", q="refund"),
        page(f"search '{marks['order']}' (one conversation)", q=marks["order"]),
        page("search 'zeppelin' (no match)", q="zeppelin"),
        page("search 'refund' + 👎 + escalated", q="refund", rating="down", escalated="yes"),
        page("analytics, last 30 days", "/workspace/analytics",
             **{"from": (last - timedelta(days=29)).isoformat(), "to": last.isoformat()}),
        page("analytics, 180 days", "/workspace/analytics",
             **{"from": (last - timedelta(days=179)).isoformat(), "to": last.isoformat()}),
        page("CSV: last rating 👎", CSV_ROUTE, rating="down"),
        page("CSV: escalated", CSV_ROUTE, escalated="yes"),
    ]


def store_for(url: str, schema: str, files: Path) -> ChatStore:
    return ChatStore(url, LocalStorage(files), schema=schema)


async def main(args: argparse.Namespace) -> None:
    embedder = Embedder()
    small_schema = f"{args.schema}_small"
    await ensure_data(args.database_url, args.schema, args.conversations, args.reuse, embedder)
    await ensure_data(args.database_url, small_schema, args.baseline_conversations, args.reuse, embedder)
    with tempfile.TemporaryDirectory() as files:
        big, small = store_for(args.database_url, args.schema, Path(files)), \
            store_for(args.database_url, small_schema, Path(files))
        try:
            table = await run_cases(args, big, small, embedder)
        finally:
            await big.close()
            await small.close()
    print(f"\n{args.conversations:,} conversations ({args.schema}) against {args.baseline_conversations:,} "
          f"({small_schema}); median of {args.rounds} after a warm-up; target < {TARGET_S} s per page")
    print("| case | rows | baseline (small) ms | ms | ratio | < 0.5 s |")
    print("|---|---|---|---|---|---|")
    for line in table:
        print(line)


async def run_cases(args: argparse.Namespace, big: ChatStore, small: ChatStore, embedder: Embedder) -> list[str]:
    big_app, small_app = app_for(big, embedder), app_for(small, embedder)
    pairs = zip(cases(await landmarks(big)), cases(await landmarks(small)), strict=True)  # same cases, same order
    table = []
    for case, small_case in pairs:
        if args.only and args.only not in case.label:
            continue
        base_first, base_all, _ = await measure(small_app, small_case, args.rounds)
        first, whole, rows = await measure(big_app, case, args.rounds)
        count = "" if rows is None else f"{rows:,}"
        lines = [row(case.label, count, base_first, first, target=True)]
        if case.path.startswith(CSV_ROUTE):  # a download: its first rows are the wait, the whole file streams
            lines = [row(case.label + ", first rows", "", base_first, first, target=True),
                     row(case.label + ", whole file", count, base_all, whole, target=False)]
        for line in lines:
            print(line, flush=True)
        table += lines
    return table


def row(label: str, rows: str, base_s: float, seconds: float, target: bool) -> str:
    mark = ("✅" if seconds < TARGET_S else "❌") if target else "—"
    return f"| {label} | {rows} | {base_s * 1000:.1f} | {seconds * 1000:.1f} | {seconds / base_s:.1f}x | {mark} |"


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000, help="conversations in the measured schema")
    parser.add_argument("--baseline-conversations", type=int, default=1_000,
                        help="conversations in the baseline schema (<schema>_small)")
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL to fill (async SQLAlchemy URL)")
    parser.add_argument("--schema", default="bench_workspace", help="schema to (re)create; must start with bench_")
    parser.add_argument("--reuse", action="store_true", help="keep a schema that already holds that many")
    parser.add_argument("--rounds", type=int, default=7, help="timed calls per case (the median is reported)")
    parser.add_argument("--only", default="", help="run only the cases whose label contains this")
    asyncio.run(main(parser.parse_args()))
