"""`python -m tools.store`: migrate, seed, import, export and count the shop's records.

    python -m tools.store seed --customers 300 --seed 20261124
    python -m tools.store export-json shop.json        # `-` for stdout
    python -m tools.store import-json db.json          # τ-bench retail JSON; replaces the shop's records
    python -m tools.store stats

Every command takes --database-url URL (default: STORE_DATABASE_URL or DATABASE_URL), before or after
the command's name: `python -m tools.store --database-url URL stats` is `... stats --database-url URL`.

Every command migrates the store first. Exit status: 0 done, 1 refused or failed (a non-empty
store without --force, an unreachable database), 2 for a usage mistake (bad file, bad JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError, StatementError

from knowledge.cli import CommandLine, option
from tools.errors import StoreConfigurationError
from tools.settings import ToolEnvironment
from tools.store.db import StoreDatabase
from tools.store.migrate import migrate_store
from tools.store.models import (
    AppliedAction, Customer, Fulfillment, Order, OrderItem, Payment, PaymentMethod, Product, Ticket, TicketEvent,
    Variant,
)  # fmt: skip
from tools.store.seed import DANA_EMAIL, is_empty, seed_demo
from tools.store.taubench import DocumentError, ImportReport, export_json, import_json

_TABLES = {
    "customers": Customer, "payment_methods": PaymentMethod, "products": Product, "variants": Variant,
    "orders": Order, "order_items": OrderItem, "fulfillments": Fulfillment, "payments": Payment,
    "tickets": Ticket, "ticket_events": TicketEvent, "applied_actions": AppliedAction,
}  # fmt: skip


class UsageError(Exception):
    """A mistake in what the user asked for: exit 2."""


class Refused(Exception):
    """The command will not run as asked: exit 1."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    defaults = ToolEnvironment().store
    cli = CommandLine("python -m tools.store", __doc__.split("\n\n")[0], [
        option("--database-url", help="store database (default: STORE_DATABASE_URL or DATABASE_URL)"),
    ])  # fmt: skip
    cli.add_parser("migrate", help="bring the store's tables to the newest revision")
    seed = cli.add_parser("seed", help="fill the store with the demo shop")
    seed.add_argument("--customers", type=int, default=defaults.seed_customers, help="customers, the demo one included")
    seed.add_argument("--seed", type=int, default=defaults.seed_random_seed, help="same seed, same shop")
    seed.add_argument("--force", action="store_true", help="replace a store that already has customers")
    load = cli.add_parser("import-json", help="replace the shop with τ-bench retail JSON")
    load.add_argument("file", help="JSON file, or - for stdin")
    dump = cli.add_parser("export-json", help="write the shop as τ-bench retail JSON")
    dump.add_argument("file", help="JSON file, or - for stdout")
    cli.add_parser("stats", help="rows per table and orders per status")
    args = cli.parse_args(argv)
    if args.command == "seed" and args.customers < 1:
        cli.error("--customers must be at least 1")
    return args


def read_document(name: str) -> Any:
    try:
        raw = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name} is not UTF-8 text") from exc
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{name} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc


def write_document(name: str, doc: dict[str, Any]) -> None:
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if name == "-":
        sys.stdout.write(text)
        return
    try:
        Path(name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {name}: {exc.strerror}") from exc


def describe(report: ImportReport) -> str:
    return (
        f"{report.customers} customers ({report.payment_methods} payment methods), {report.orders} orders, "
        f"{report.products} products ({report.variants} variants)"
    )


async def stats(db: StoreDatabase) -> list[str]:
    async with db.read() as session:
        lines = [f"{name:<16}{await session.scalar(select(func.count()).select_from(model)):>8}"
                 for name, model in _TABLES.items()]  # fmt: skip
        by_status = (await session.execute(
            select(Order.status, func.count()).group_by(Order.status).order_by(Order.status)
        )).all()  # fmt: skip
    return [*lines, "orders by status:", *(f"  {status:<26}{count:>6}" for status, count in by_status)]


async def run(args: argparse.Namespace) -> None:
    db = StoreDatabase.from_settings(ToolEnvironment(), args.database_url)
    try:
        await migrate_store(db.url, db.schema)
        if args.command == "migrate":
            print("the store is at the newest revision")
        elif args.command == "seed":
            if not args.force and not await is_empty(db):
                raise Refused("the store already has customers; add --force to replace them with the demo shop")
            report = await seed_demo(db, args.customers, args.seed)
            print(f"seeded {describe(report)} with seed {report.seed}; demo customer {DANA_EMAIL}")
        elif args.command == "import-json":
            doc = read_document(args.file)
            try:
                report = await import_json(db, doc)
            except DocumentError as exc:
                raise UsageError(f"{args.file} is not τ-bench retail JSON: {exc}") from exc
            except OperationalError:
                raise
            except StatementError as exc:  # a duplicate email, a status the store does not know, a too-long id
                raise UsageError(f"the store refused {args.file}: {str(exc.orig).splitlines()[0]}") from exc
            print(f"imported {describe(report)}")
        elif args.command == "export-json":
            doc = await export_json(db)
            write_document(args.file, doc)
            if args.file != "-":
                print(f"exported {len(doc['users'])} customers, {len(doc['orders'])} orders, "
                      f"{len(doc['products'])} products to {args.file}")  # fmt: skip
        else:
            print("\n".join(await stats(db)))
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(run(args))
    except (UsageError, StoreConfigurationError, Refused, DBAPIError, OSError) as exc:
        print(f"error: {explain(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, (UsageError, StoreConfigurationError)) else 1
    return 0


def explain(exc: Exception) -> str:
    if isinstance(exc, (DBAPIError, OSError)):  # an unreachable or broken database: which, without a traceback
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return f"the store database failed: {type(exc).__name__}: {detail}"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
