"""The store's data plumbing: migrations, τ-bench import/export, the demo shop and `python -m tools.store`.

Database tests run on SQLite and on the local PostgreSQL, each in a fresh private schema.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from tools.store.sql import make_engine
from agent.datalayer.migrate import migrate
from agent.settings import Settings, StoreSettings
from tests.conftest import require, shared_data
from tests.postgres import PG_URL, private_schema, require_postgres
from tests.processes import SETTING_PREFIXES, app_env
from tools.store.db import StoreDatabase
from tools.store.migrate import migrate_store
from tools.store.models import ORDER_STATUSES, Base, Customer, Order
from tools.store.seed import build_demo, ensure_seeded, is_empty, seed_demo
from tools.store.taubench import DocumentError, export_json, import_json

ROOT = Path(__file__).resolve().parents[1]
TAUBENCH = shared_data("taubench-retail/db.json")
DANA = "dana_whitfield_1001"


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path) -> tuple[str, str]:
    """(url, schema) of a store that does not exist yet."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'store.db'}", ""  # folder does not exist yet
        return
    require_postgres()
    with private_schema() as schema:
        yield PG_URL, schema


@pytest.fixture
async def store(target):
    url, schema = target
    await migrate_store(url, schema)
    db = StoreDatabase(url, schema)
    yield db
    await db.dispose()


@pytest.fixture(scope="module")
def taubench() -> dict:
    require(TAUBENCH.is_file(), f"τ-bench retail data is not at {TAUBENCH}")
    return json.loads(TAUBENCH.read_text(encoding="utf-8"))


def demo_settings(customers: int = 30) -> Settings:
    return Settings(store=StoreSettings(seed_customers=customers, seed_random_seed=7))


async def count(db: StoreDatabase, model) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(model))


# --- migrations


async def test_migrations_match_the_models_and_rerun_as_a_no_op(target):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url, schema = target
    await migrate_store(url, schema)
    await migrate_store(url, schema)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            if schema:  # compare the unqualified models against our schema, not `public`
                await conn.execute(text(f'SET search_path TO "{schema}"'))
            versions = (await conn.execute(text("SELECT version_num FROM store_alembic_version"))).scalars().all()

            def diff(sync_conn):
                opts = {"compare_type": True, "version_table": "store_alembic_version"}
                return compare_metadata(MigrationContext.configure(sync_conn, opts=opts), Base.metadata)

            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert versions == ["0002"]
    assert differences == [], "models.py and the store migrations disagree"


async def test_store_and_chat_history_share_a_database_with_separate_version_tables(target):
    url, schema = target
    await migrate(url, schema)
    await migrate_store(url, schema)
    await migrate(url, schema)  # neither history mistakes the other's revision for its own
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            if schema:
                await conn.execute(text(f'SET search_path TO "{schema}"'))
            # each at its own newest revision
            for table, newest in (("alembic_version", "0004"), ("store_alembic_version", "0002")):
                assert (await conn.execute(text(f"SELECT version_num FROM {table}"))).scalars().all() == [newest]
            assert (await conn.execute(text("SELECT count(*) FROM store_orders"))).scalar() == 0
            assert (await conn.execute(text("SELECT count(*) FROM threads"))).scalar() == 0
    finally:
        await engine.dispose()


# --- τ-bench import and export


async def test_taubench_document_round_trips_exactly(store, taubench):
    started = time.perf_counter()
    report = await import_json(store, taubench)
    elapsed = time.perf_counter() - started
    assert (report.customers, report.orders, report.products, report.variants) == (500, 1000, 50, 591)
    assert elapsed < 10, f"importing τ-bench took {elapsed:.1f}s"
    assert await export_json(store) == taubench

    await import_json(store, taubench)  # a second import replaces, never adds
    assert await count(store, Order) == 1000
    async with store.read() as session:  # keys τ-bench leaves out are SQL NULL, not JSON null
        unset = await session.scalar(select(func.count()).where(Order.return_items.is_(None)))
    assert unset == 1000


def broken(doc: dict, where: str) -> dict:
    """A copy of the first order, user or product with one thing wrong."""
    doc = json.loads(json.dumps(doc))
    section, _, key = where.partition(".")
    record = next(iter(doc[section].values()))
    if key == "orders":
        record["orders"].append("#W0000000")
    elif key == "user_id":
        record["user_id"] = "nobody_0000"
    else:
        del record[key]
    return doc


@pytest.mark.parametrize(("where", "message"), [
    ("users.email", "missing 'email'"),
    ("users.orders", "'#W0000000' is not in 'orders'"),
    ("orders.user_id", "user 'nobody_0000' is not in 'users'"),
    ("products.variants", "missing 'variants'"),
])  # fmt: skip
async def test_a_malformed_document_changes_nothing(store, taubench, where, message):
    await import_json(store, {"users": {}, "orders": {}, "products": {}})
    with pytest.raises(DocumentError, match=re.escape(message)):
        await import_json(store, broken(taubench, where))
    with pytest.raises(DocumentError, match="users, orders and products"):
        await import_json(store, [])
    assert await is_empty(store)


# --- the demo shop


async def test_same_seed_same_shop_and_another_seed_another(store):
    await seed_demo(store, 40, seed=11)
    first = await export_json(store)
    await seed_demo(store, 40, seed=11)
    assert await export_json(store) == first
    assert await count(store, Customer) == 40
    await seed_demo(store, 40, seed=12)
    other = await export_json(store)
    assert other != first
    assert other["products"] == first["products"], "the catalogue never depends on the seed"
    assert other["users"][DANA] == first["users"][DANA]


async def test_the_demo_customer(store):
    await seed_demo(store, 5, seed=3)
    shop = await export_json(store)
    dana = shop["users"][DANA]
    assert dana["email"] == "dana@example.com"
    assert dana["name"] == {"first_name": "Dana", "last_name": "Whitfield"}
    assert dana["address"] == {"address1": "12 Larkspur Lane", "address2": "Apt 4", "city": "Portland",
                               "state": "OR", "country": "USA", "zip": "97205"}  # fmt: skip
    assert dana["payment_methods"] == {
        "gift_card_1001001": {"source": "gift_card", "id": "gift_card_1001001", "balance": 150.0},
        "credit_card_1001002": {"source": "credit_card", "id": "credit_card_1001002", "brand": "visa",
                                "last_four": "4242"},
        "paypal_1001003": {"source": "paypal", "id": "paypal_1001003"},
    }  # fmt: skip
    assert dana["orders"] == ["#W1001001", "#W1001002", "#W1001003", "#W1001004"]
    orders = [shop["orders"][order_id] for order_id in dana["orders"]]
    assert [o["status"] for o in orders] == ["delivered", "processed", "pending", "pending"]
    assert [[p["payment_method_id"] for p in o["payment_history"]] for o in orders] == [
        ["credit_card_1001002"], ["paypal_1001003"], ["gift_card_1001001"], ["credit_card_1001002"]
    ]
    delivered, shipped, pending, _ = orders
    assert [i["name"] for i in delivered["items"]] == ["Headphones", "Mechanical Keyboard"]
    assert {"color": "black", "connectivity": "wireless"}.items() <= delivered["items"][0]["options"].items()
    assert delivered["fulfillments"][0]["tracking_id"] and shipped["fulfillments"][0]["tracking_id"]
    assert [i["name"] for i in pending["items"]] == ["Water Bottle", "Desk Lamp"]
    assert len(orders[3]["items"]) == 1
    for name in ("Headphones", "Mechanical Keyboard"):  # exchanges need other variants on sale
        [product] = [p for p in shop["products"].values() if p["name"] == name]
        assert sum(v["available"] for v in product["variants"].values()) >= 3


def test_the_demo_shop_is_realistic_and_consistent():
    doc, placed = build_demo(300, 20261124)
    users, orders, products = doc["users"], doc["orders"], doc["products"]
    assert len(users) == 300 and 45 <= len(products) <= 60
    assert all(re.fullmatch(r"\d{10}", pid) for pid in products)
    variants = [v for p in products.values() for v in p["variants"].values()]
    assert all(re.fullmatch(r"\d{10}", v["item_id"]) for v in variants)
    assert all(len(p["variants"]) >= 3 for p in products.values())
    assert 0 < sum(not v["available"] for v in variants) < len(variants) / 3
    assert len({u["email"] for u in users.values()}) == 300
    for user_id, user in users.items():
        assert re.fullmatch(r"[a-z]+_[a-z]+_\d{4}", user_id) and user["email"].endswith("@example.com")
        assert 1 <= len(user["payment_methods"]) <= 3 and 1 <= len(user["orders"]) <= 4
        assert all(re.fullmatch(r"(credit_card|gift_card|paypal)_\d{7}", m) for m in user["payment_methods"])
        dates = [placed[o] for o in user["orders"]]
        assert dates == sorted(dates), "a customer's orders are listed newest last"
    statuses = Counter(o["status"] for o in orders.values())
    assert set(statuses) == set(ORDER_STATUSES)
    for order_id, order in orders.items():
        assert re.fullmatch(r"#W\d{7}", order_id)
        assert set(p["payment_method_id"] for p in order["payment_history"]) <= set(users[order["user_id"]]
                                                                                      ["payment_methods"])
        paid = sum(Decimal(str(p["amount"])) * (1 if p["transaction_type"] == "payment" else -1)
                   for p in order["payment_history"])  # fmt: skip
        items = sum(Decimal(str(i["price"])) for i in order["items"])
        assert paid == (0 if order["status"] == "cancelled" else items), order_id
        shipped = order["status"] not in ("pending", "pending (item modified)", "cancelled")
        assert bool(order["fulfillments"]) == shipped, order_id
        if shipped:
            assert sorted(i for f in order["fulfillments"] for i in f["item_ids"]) == sorted(
                i["item_id"] for i in order["items"])
        if order["status"] == "cancelled":
            assert order["cancel_reason"] in ("no longer needed", "ordered by mistake")
            assert [p["transaction_type"] for p in order["payment_history"]] == ["payment", "refund"]
        if order["status"] == "exchange requested":
            assert len(order["exchange_items"]) == len(order["exchange_new_items"])


async def test_ensure_seeded_seeds_an_empty_store_once(store):
    assert await is_empty(store)
    assert await ensure_seeded(store, demo_settings()) is True
    assert await ensure_seeded(store, demo_settings()) is False
    assert await count(store, Customer) == 30


async def test_instances_starting_together_seed_once(store):
    other = StoreDatabase(store.url, store.schema)
    try:
        results = await asyncio.gather(ensure_seeded(store, demo_settings()), ensure_seeded(other, demo_settings()))
    finally:
        await other.dispose()
    assert sorted(results) == [False, True]
    assert await count(store, Customer) == 30


# --- python -m tools.store


def cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.store", *args, "--database-url", url],
                          cwd=ROOT, env=app_env(), capture_output=True, text=True, timeout=300)  # fmt: skip


def test_cli_seed_export_import_export(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 's.db'}"
    seeded = cli("seed", "--customers", "25", "--seed", "5", url=url)
    assert seeded.returncode == 0, seeded.stderr
    assert "25 customers" in seeded.stdout
    exported = cli("export-json", str(tmp_path / "a.json"), url=url)
    assert exported.returncode == 0, exported.stderr
    first = json.loads((tmp_path / "a.json").read_text())
    assert len(first["users"]) == 25 and DANA in first["users"]

    imported = cli("import-json", str(tmp_path / "a.json"), url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    assert imported.returncode == 0, imported.stderr
    again = cli("export-json", "-", url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == first
    assert again.stdout.startswith('{\n  "users": {'), "pretty JSON with indent=2"

    refused = cli("seed", url=url)
    assert refused.returncode == 1 and "--force" in refused.stderr
    forced = cli("seed", "--customers", "10", "--force", url=url)
    assert forced.returncode == 0, forced.stderr
    stats = cli("stats", url=url)
    assert stats.returncode == 0, stats.stderr
    assert re.search(r"^customers\s+10$", stats.stdout, re.M) and "orders by status:" in stats.stdout


@pytest.mark.parametrize("seed_options", ["before", "after"])
def test_cli_takes_the_database_url_before_or_after_the_command(target, seed_options, tmp_path, monkeypatch, capsys):
    from tools.store.__main__ import main

    url, schema = target
    for name in [n for n in os.environ if n.startswith(SETTING_PREFIXES)]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no ./.env
    monkeypatch.setenv("STORE_SCHEMA_NAME", schema)  # the store CLI takes no --schema; "" for SQLite
    default = tmp_path / "default" / "store.db"  # what the CLI would use without --database-url
    monkeypatch.setenv("STORE_DATABASE_URL", f"sqlite+aiosqlite:///{default}")

    def store_cli(where: str, *args: str) -> int:
        option = ["--database-url", url]
        return main([*option, *args] if where == "before" else [*args, *option])

    assert store_cli(seed_options, "seed", "--customers", "12", "--seed", "3") == 0
    assert "seeded 12 customers" in capsys.readouterr().out
    assert store_cli("after" if seed_options == "before" else "before", "stats") == 0
    assert re.search(r"^customers\s+12$", capsys.readouterr().out, re.MULTILINE)
    assert not default.exists(), "the default store is never opened"

    async def customers() -> int:
        db = StoreDatabase(url, schema)
        try:
            return await count(db, Customer)
        finally:
            await db.dispose()

    assert asyncio.run(customers()) == 12


@pytest.mark.parametrize(("content", "message"), [
    (None, "cannot read"),
    ("{not json", "is not JSON"),
    ('{"users": [], "orders": {}, "products": {}}', "is not τ-bench retail JSON: 'users' must be an object"),
])  # fmt: skip
def test_cli_mistakes_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "in.json"
    if content is not None:
        path.write_text(content)
    run = cli("import-json", str(path), url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr and len(run.stderr.splitlines()) == 1
