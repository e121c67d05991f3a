"""APP_GC_YOUNG_THRESHOLD: after warm-up the collector walks neither what was alive then nor the young objects
every 700 allocations. Run in a fresh interpreter: the test process's own collector stays as it is."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import gc, sys
from agent.collector import settle_heap

kept = [[i] for i in range(50_000)]  # alive at warm-up
settle_heap(int(sys.argv[1]))
young = []
gc.callbacks.append(lambda phase, info: phase == "start" and young.append(info["generation"]))
for _ in range(100_000):
    pair = [], []
    pair[0].append(pair)  # a cycle: only the collector frees it
print(gc.get_freeze_count() >= len(kept), gc.get_threshold()[0], young.count(0))
"""


def settled(threshold: int) -> tuple[str, int, int]:
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(threshold)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    frozen, young_threshold, young_collections = result.stdout.split()
    return frozen, int(young_threshold), int(young_collections)


def test_the_warm_heap_is_frozen_and_young_objects_collected_less_often():
    frozen, threshold, collections = settled(20_000)
    default_frozen, default_threshold, default_collections = settled(0)
    assert frozen == default_frozen == "True"
    assert (threshold, default_threshold) == (20_000, 700)
    # 300,000 allocations (three containers per cycle): ~430 young collections at 700, ~15 at 20,000
    assert collections * 10 < default_collections
