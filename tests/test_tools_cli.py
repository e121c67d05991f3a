"""`python -m tools call`: run tools by name as a given customer, with explicit confirmation, on a seeded store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import SETTING_PREFIXES, app_env

ROOT = Path(__file__).resolve().parent.parent
DANA = "dana_whitfield_1001"
PENDING = "#W1001003"  # paid in one payment with gift_card_1001001 (balance 150.00)


def cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    """`python -m tools ARGS... --database-url URL`"""
    return subprocess.run([sys.executable, "-m", "tools", *args, "--database-url", url],
                          cwd=ROOT, env=app_env(), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def store_url(tmp_path_factory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
    seeded = subprocess.run([sys.executable, "-m", "tools.store", "seed", "--database-url", url],
                            cwd=ROOT, env=app_env(), capture_output=True, text=True, timeout=300)
    assert seeded.returncode == 0, seeded.stderr
    return url


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_call_previews_without_confirm_and_applies_with_it(store_url):
    args = json.dumps({"order_id": PENDING, "reason": "ordered by mistake"})
    preview = cli("call", "cancel_pending_order", args, "--as-customer", DANA, url=store_url)
    assert preview.returncode == 1, preview.stderr
    [result] = lines(preview.stdout)
    assert result["error"] == "needs_confirmation" and result["data"]["summary"]

    details = cli("call", "get_order_details", json.dumps({"order_id": PENDING}), "--as-customer", DANA,
                  url=store_url)
    assert lines(details.stdout)[0]["data"]["status"] == "pending", "a preview changes nothing"

    key = "support-ticket-4711"
    for _ in range(2):  # a retried confirmed call with the same key applies once
        applied = cli("call", "cancel_pending_order", args, "--as-customer", DANA, "--confirm",
                      "--idempotency-key", key, url=store_url)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert lines(applied.stdout)[0]["data"]["status"] == "cancelled"
    after = lines(cli("call", "get_order_details", json.dumps({"order_id": PENDING}), "--as-customer", DANA,
                      url=store_url).stdout)[0]["data"]
    assert [p["transaction_type"] for p in after["payment_history"]] == ["payment", "refund"]


def test_batch_runs_many_calls_and_keeps_customers_apart(store_url, tmp_path):
    batch = tmp_path / "calls.jsonl"
    batch.write_text("\n".join(json.dumps(line) for line in [
        {"tool": "find_user_id_by_email", "arguments": {"email": "dana@example.com"}},
        {"tool": "get_user_details", "arguments": {"user_id": DANA}, "as_customer": DANA},
        {"tool": "get_order_details", "arguments": {"order_id": "#W1001001"}, "as_customer": "someone_else_0001"},
        {"tool": "get_order_details", "arguments": {"order_id": "#W1001001"}},
        {"tool": "list_all_product_types", "arguments": {}},
    ]) + "\n")
    run = cli("call", "--batch", str(batch), url=store_url)
    results = lines(run.stdout)
    assert [r["tool"] for r in results] == ["find_user_id_by_email", "get_user_details", "get_order_details",
                                            "get_order_details", "list_all_product_types"]
    assert results[0]["ok"] and results[0]["data"] == DANA
    assert results[1]["data"]["email"] == "dana@example.com"
    assert results[2]["error"] == "not_found", "another customer's order reads as missing"
    assert results[3]["error"] == "forbidden", "account tools need an identified customer"
    assert results[4]["ok"] and "Headphones" in json.dumps(results[4]["data"])
    assert run.returncode == 1  # some calls refused


@pytest.mark.parametrize(("args", "message"), [
    (["call", "get_order_details", "{not json"], "arguments are not JSON"),
    (["call", "--batch", "/nonexistent/calls.jsonl"], "cannot read"),
])
def test_usage_mistakes_are_one_line_errors(store_url, args, message):
    run = cli(*args, url=store_url)
    assert run.returncode == 2 and message in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_database_url_goes_before_or_after_the_command(store_url, where, tmp_path, monkeypatch, capsys):
    from tools.__main__ import main

    for name in [n for n in os.environ if n.startswith(SETTING_PREFIXES)]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no ./.env
    default = tmp_path / "default" / "store.db"  # what the tools would use without --database-url
    monkeypatch.setenv("STORE_DATABASE_URL", f"sqlite+aiosqlite:///{default}")
    command = ["call", "get_user_details", json.dumps({"user_id": DANA}), "--as-customer", DANA]
    option = ["--database-url", store_url]

    assert main([*option, *command] if where == "before" else [*command, *option]) == 0
    [result] = lines(capsys.readouterr().out)
    assert result["ok"] and result["data"]["email"] == "dana@example.com", "read from the seeded store"
    assert not default.exists(), "the default store is never opened"
