"""This app under concurrent chats against a bare Chainlit echo app, both measured in the same run.

Baseline: a bare Chainlit app (bench/load_apps.py) that streams each message back word by word: no sign-in, no
data layer, no engine. What Chainlit's socket.io and one process cost for the same chats. Measured: this app,
`chainlit run app.py --headless` with sign-in off, the offline engine (or, with --llm, a zero-latency fake
OpenAI-compatible server in this process: the OpenAI adapter's path with no model time), rate limits raised, a
private SQLite database and Chroma folder. The two run one after the other, so neither idles beside the other.

This app is measured once it has built its help-centre indexes (the `support_knowledge_warm_seconds` metric).
Each app gets a warm-up chat (1 turn, not counted), then one chat alone (1 chat x M turns: "one chat's turn"),
then N concurrent chats x M turns over socket.io, driven as the page does (bench/load_drive.py). Printed per
app: turns/s, first-token and turn latency p50/p90/p99 (from emitting the message to the first streamed token
or assistant message, and to `task_end`), errors, peak RSS of the app's process group; then this app's ratio
to the echo, the one-chat difference in ms, a Markdown table for the README and the command line.

    .venv/bin/python bench/bench_load.py [--chats 100] [--turns 5] [--llm]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load_apps import PeakRSS, app_settings, fake_model_process, run_echo  # noqa: E402
from bench.load_drive import Run, drive, percentile  # noqa: E402
from tests.cluster import AppInstance, InstanceStartError, run_instance  # noqa: E402

QUANTILES = (50, 90, 99)
WARM_METRIC = "support_knowledge_warm_seconds"  # agent/metrics.py: set once the help centre's indexes are built
WARM_WAIT_S = 180.0  # the indexes take ~12 s on a quiet 2-core machine; past this, measure anyway and say so


@dataclass
class Measure:
    load: Run
    solo: Run
    peak_rss_mb: float


def wait_until_warm(instance: AppInstance) -> None:
    """The app embeds every help-centre sentence in the background after it starts; measuring while it does
    would count that work against the first chats."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    deadline = time.monotonic() + WARM_WAIT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            text = httpx.get(f"{instance.base_url}/metrics", timeout=10).text
            took = next((sample.value for family in text_string_to_metric_families(text)
                         for sample in family.samples if sample.name == WARM_METRIC), 0.0)
            if took > 0:
                print(f"the help centre's indexes were built in {took:.1f} s", file=sys.stderr)
                return
        time.sleep(0.5)
    print(f"warning: {WARM_METRIC} still 0 after {WARM_WAIT_S:.0f} s; measuring anyway", file=sys.stderr)


def measure(instance: AppInstance, chats: int, turns: int) -> Measure:
    # start_new_session=True: the server's pid is its process group's id.
    with PeakRSS(instance.process.pid) as rss:
        # Messages from the end of the list for the warm-up and the lone chat, from the start under load: none
        # is sent twice unless chats x turns outgrows the list.
        warm = asyncio.run(drive(instance, 1, 1, first=-1))  # lazy imports, model loading, first SQL
        if warm.errors:
            print(f"warning: the warm-up turn on {instance.name} failed: {dict(warm.errors)}", file=sys.stderr)
        solo = asyncio.run(drive(instance, 1, turns, first=-1 - turns))
        load = asyncio.run(drive(instance, chats, turns))
    return Measure(load, solo, rss.peak_mb)


def ms(values: list[float]) -> str:
    return " / ".join(f"{percentile(values, q):.0f}" for q in QUANTILES)


def ratios(ours: list[float], echo: list[float]) -> str:
    return " / ".join(f"{percentile(ours, q) / percentile(echo, q):.1f}x" for q in QUANTILES)


def errors(run: Run) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(run.errors.items())) or "0"


def report(name: str, m: Measure) -> None:
    run = m.load
    print(f"{name}: {len(run.turn_ms)} of {run.chats * run.turns} turns in {run.wall_s:.2f} s = "
          f"{run.turns_per_s:.1f} turns/s")
    print(f"  first token p50/p90/p99: {ms(run.first_token_ms)} ms")
    print(f"  turn p50/p90/p99: {ms(run.turn_ms)} ms")
    print(f"  errors: {errors(run)}")
    print(f"  peak RSS of the process group: {m.peak_rss_mb:.0f} MB")
    print(f"  one chat alone: turn p50 {percentile(m.solo.turn_ms, 50):.0f} ms ({errors(m.solo)} errors)")
    print(f"  first reply: {' '.join(run.sample_reply.split())[:100]!r}")


def table(echo: Measure, ours: Measure, chats: int, turns: int, engine: str) -> str:
    e, o = echo.load, ours.load
    solo_e, solo_o = percentile(echo.solo.turn_ms, 50), percentile(ours.solo.turn_ms, 50)
    rows = [
        (f"{chats} chats x {turns} turns, {engine}", "echo app (baseline)", "this app", "this app / echo"),
        ("---", "---", "---", "---"),
        ("turns/s", f"{e.turns_per_s:.1f}", f"{o.turns_per_s:.1f}",
         f"{o.turns_per_s / e.turns_per_s:.2f}x" if e.turns_per_s else "n/a"),
        ("first token p50 / p90 / p99 (ms)", ms(e.first_token_ms), ms(o.first_token_ms),
         ratios(o.first_token_ms, e.first_token_ms)),
        ("turn p50 / p90 / p99 (ms)", ms(e.turn_ms), ms(o.turn_ms), ratios(o.turn_ms, e.turn_ms)),
        ("errors (timeouts, disconnects, error replies)", errors(e), errors(o), ""),
        ("peak RSS of the process group (MB)", f"{echo.peak_rss_mb:.0f}", f"{ours.peak_rss_mb:.0f}",
         f"{ours.peak_rss_mb / echo.peak_rss_mb:.1f}x" if echo.peak_rss_mb else "n/a"),
        (f"one chat alone, turn p50 (ms, {turns} turns)", f"{solo_e:.0f}", f"{solo_o:.0f}",
         f"{solo_o - solo_e:+.0f} ms"),
    ]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main(chats: int, turns: int, llm: bool) -> None:
    engine = "fake OpenAI-compatible model (zero latency)" if llm else "offline engine"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, (
                fake_model_process() if llm else contextlib.nullcontext()) as fake_env:
            work = Path(tmp)
            print("starting the echo app ...", file=sys.stderr)
            with run_echo(work / "echo") as echo_app:
                echo = measure(echo_app, chats, turns)
            print("starting this app (a fresh Chroma folder: it ingests the help centre first) ...", file=sys.stderr)
            settings = app_settings(work / "app", fake_env)
            with run_instance("app", work / "app", settings) as app:
                wait_until_warm(app)
                ours = measure(app, chats, turns)
    except InstanceStartError as exc:
        sys.exit(f"could not start a server: {exc}")

    print(f"\n{chats} concurrent chats x {turns} turns each, this app on the {engine}\n")
    report("echo app (baseline)", echo)
    report("this app", ours)
    e, o = echo.load, ours.load
    if e.turns_per_s:
        print(f"\nthis app / echo: turns/s {o.turns_per_s / e.turns_per_s:.2f}x, "
              f"first token p50/p90/p99 {ratios(o.first_token_ms, e.first_token_ms)}, "
              f"turn p50/p90/p99 {ratios(o.turn_ms, e.turn_ms)}")
    diff = percentile(ours.solo.turn_ms, 50) - percentile(echo.solo.turn_ms, 50)
    print(f"one chat's turn, this app minus echo: {diff:+.0f} ms (p50 of {turns} turns)\n")
    print(table(echo, ours, chats, turns, engine))
    print(f"\ncommand: {shlex.join(sys.orig_argv)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=100, help="concurrent socket.io chats (default 100)")
    parser.add_argument("--turns", type=int, default=5, help="turns each chat sends, one after another (default 5)")
    parser.add_argument("--llm", action="store_true",
                        help="this app answers from a zero-latency fake OpenAI-compatible server, not offline")
    args = parser.parse_args()
    if args.chats < 1 or args.turns < 1:
        parser.error("--chats and --turns must be at least 1")
    main(args.chats, args.turns, args.llm)
