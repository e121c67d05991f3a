"""The embedding runners, alone and beside a busy Python thread, measured in the same run.

Baseline: sentence-transformers on torch, embedding one short message with nothing else running. Measured: the
same call, and ONNX Runtime's (knowledge/onnx_model.py), alone and while another thread runs Python without
pause, as the event loop does under a hundred chats. Under torch each operator of a pass gives the GIL back and
waits to take it again; ONNX Runtime runs the whole pass in one call. Printed: p50/p90 ms per call, as a ratio
to the baseline, for one message and for a batch of 32.

    .venv/bin/python bench/bench_embed.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge.embedder import Embedder  # noqa: E402

ONE = ["where is my order, it was meant to arrive on monday"]
BATCH = [f"can I return the lamp from order {n} if the box is open?" for n in range(32)]


@contextmanager
def busy_python() -> Iterator[None]:
    """Another thread running pure Python until the block ends, as a busy event loop does."""
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def timed(call: Callable[[], object], rounds: int) -> list[float]:
    call()  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def q(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100)[pct - 1]


def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as graphs:
        runners = {"torch": Embedder(backend="torch", cache_size=0)._load(),
                   "onnx": Embedder(backend="onnx", onnx_dir=Path(graphs), cache_size=0)._load()}
        rows = []
        for texts, label in ((ONE, "1 message"), (BATCH, "32 messages")):
            baseline = None
            for busy in (False, True):
                for name, runner in runners.items():
                    if busy:
                        with busy_python():
                            times = timed(lambda r=runner: r.encode(texts), rounds)
                    else:
                        times = timed(lambda r=runner: r.encode(texts), rounds)
                    p50 = q(times, 50)
                    baseline = baseline or p50  # torch, alone: the first measured
                    rows.append((label, name, "busy Python thread beside" if busy else "alone",
                                 f"{p50:.1f} / {q(times, 90):.1f}", f"{p50 / baseline:.2f}x"))
    print(f"{rounds} calls each; baseline: torch alone, per batch size\n")
    print("| texts | runner | beside | p50 / p90 ms | p50 / baseline |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="calls per measurement (default 30)")
    main(parser.parse_args().rounds)
