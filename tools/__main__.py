"""`python -m tools`: list the business tools, or call them as a given customer.

    python -m tools list
    python -m tools call cancel_pending_order '{"order_id": "#W1001003", "reason": "ordered by mistake"}' \\
        --as-customer dana_whitfield_1001 --confirm
    python -m tools call --batch calls.jsonl     # {"tool", "arguments", "as_customer", "confirm"} per line

Every command takes --database-url URL (default: STORE_DATABASE_URL or DATABASE_URL), before or after
the command's name: `python -m tools --database-url URL list` is `python -m tools list --database-url URL`.

Each result is printed as one JSON line. Exit status: 0 when every call succeeded, 1 when a tool
refused or failed, 2 for a usage mistake (bad JSON, unknown option).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from knowledge.cli import CommandLine, option
from tools.runner import ToolRunner, result_json
from tools.settings import ToolEnvironment


class UsageError(Exception):
    pass


def parse_args(argv: list[str]) -> argparse.Namespace:
    cli = CommandLine("python -m tools", __doc__.split("\n\n")[0], [
        option("--database-url", help="store database (default: STORE_DATABASE_URL or DATABASE_URL)"),
    ])  # fmt: skip
    cli.add_parser("list", help="the tools, their arguments and whether they need confirmation")
    call = cli.add_parser("call", help="run one tool, or a JSON-lines batch")
    call.add_argument("tool", nargs="?", help="tool name")
    call.add_argument("arguments", nargs="?", default="{}", help="JSON object of arguments")
    call.add_argument("--as-customer", help="the customer (user_id) the call acts for")
    call.add_argument("--confirm", action="store_true", help="the customer's explicit confirmation of a write")
    call.add_argument("--idempotency-key", help="same key, same confirmed write: applied once")
    call.add_argument("--batch", type=Path, help="JSON lines of {tool, arguments, as_customer, confirm}")
    args = cli.parse_args(argv)
    if args.command == "call" and bool(args.batch) == bool(args.tool):
        cli.error("give either a tool name or --batch FILE")
    return args


def batch_lines(path: Path) -> Iterator[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(entry, dict) or not isinstance(entry.get("tool"), str):
            raise UsageError(f"{path}:{number}: each line needs a \"tool\" name")
        yield entry


def arguments_of(raw: Any, where: str) -> dict[str, Any]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(value, dict):
        raise UsageError(f"{where}: arguments must be a JSON object")
    return value


async def run(args: argparse.Namespace) -> int:
    runner = await ToolRunner.open(ToolEnvironment(), args.database_url)
    try:
        if args.command == "list":
            for spec in runner.registry.specs():
                needs = " (needs --confirm)" if spec.writes else ""
                print(f"{spec.name}{needs}: {spec.description}\n    arguments: {json.dumps(spec.parameters)}")
            return 0
        if args.batch:
            calls = [(e["tool"], arguments_of(e.get("arguments", {}), e["tool"]), e.get("as_customer"),
                      bool(e.get("confirm")), e.get("idempotency_key")) for e in batch_lines(args.batch)]
        else:
            try:
                calls = [(args.tool, arguments_of(args.arguments, "arguments"), args.as_customer, args.confirm,
                          args.idempotency_key)]
            except json.JSONDecodeError as exc:
                raise UsageError(f"arguments are not JSON ({exc.msg})") from exc
        status = 0
        for tool, arguments, customer, confirm, key in calls:
            result = await runner.call(tool, arguments, as_customer=customer, confirm=confirm, idempotency_key=key)
            print(json.dumps({"tool": tool, **result_json(result)}, default=str, ensure_ascii=False), flush=True)
            status = status or (0 if result.ok else 1)
        return status
    finally:
        await runner.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        return asyncio.run(run(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
