"""The garbage collector once the app has warmed up (APP_GC_YOUNG_THRESHOLD).

Python collects its youngest generation every 700 net allocations of container objects, and every tenth of those
collections the next one. Under 100 chats that was ~95 young and ~9 middle collections a second, and a full one
(~30 ms, the event loop stopped) every second or two: ~10% of the event loop's time in the collector (py-spy
`--native`, bench/bench_load.py). A turn allocates thousands of short-lived objects that reference counting frees
anyway; collecting less often walks fewer of them. The objects alive at warm-up (the model, the indexes, the
classifier's training data) are never garbage: frozen, no collection walks them again.
"""

from __future__ import annotations

import gc


def settle_heap(young_threshold: int) -> None:
    """Collect once, freeze what is alive, then collect the youngest generation every `young_threshold`
    allocations (0 keeps Python's threshold). The older generations keep their ratios to it."""
    gc.collect()
    gc.freeze()
    if young_threshold > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)
