"""First words before bookkeeping.

A turn's writes (its transcript, its facts) and Chainlit's closing messages cost the event loop about as much as
the work before its first words. When many turns wait for their first words at once (a burst of new chats: 100
messages within 20 ms) and the loop is busy, a turn that has answered lets them go first: its bookkeeping waits
until fewer than `crowd` turns are waiting, at most `max_wait_s`. The customer has the answer already (the page
streams its rest on a timer); only the turn's end moves, and nothing is lost: the writes still come before the
turn ends. Turns waiting on a remote model leave the loop idle: then holding would help nobody, and nothing waits.
Under 100 chats x 5 turns (offline) this took first-token p99 from 0.77-1.05 s to 0.69-0.86 s (bench/bench_load.py).
"""

from __future__ import annotations

import asyncio

BUSY_SAMPLES = 2  # rounds of the event loop timed before holding a turn's writes


class FirstWordsFirst:
    """Counts the turns waiting for their first words; `yield_to_waiting` holds a finished turn's bookkeeping."""

    def __init__(self, crowd: int, max_wait_s: float, busy_s: float = 0.0) -> None:
        self.crowd = crowd  # 0: never wait
        self.max_wait_s = max_wait_s
        self.busy_s = busy_s  # a round of the loop's queued callbacks at least this long: the loop is the bottleneck
        self.waiting = 0
        self._held: list[asyncio.Future[None]] = []

    def arrived(self) -> None:
        self.waiting += 1

    def answered(self) -> None:
        self.waiting -= 1
        if self.waiting < self.crowd:
            for held in self._held:
                if not held.done():
                    held.set_result(None)
            self._held.clear()

    async def yield_to_waiting(self) -> None:
        if not self.crowd or self.waiting < self.crowd or not await self._loop_busy():
            return
        # A future of the running loop, made here: one service may serve several loops (tests, jobs).
        held = asyncio.get_running_loop().create_future()
        self._held.append(held)
        try:
            await asyncio.wait_for(held, self.max_wait_s)
        except TimeoutError:
            pass  # the crowd persists: the bookkeeping goes ahead
        finally:
            if held in self._held:
                self._held.remove(held)

    async def _loop_busy(self) -> bool:
        """The longer of two rounds of the loop's ready callbacks, timed: under 0.5 ms idle, 0.4-15 ms each
        under 100 chats (one round alone may find the queue short)."""
        loop = asyncio.get_running_loop()
        longest = 0.0
        for _ in range(BUSY_SAMPLES):
            started = loop.time()
            await asyncio.sleep(0)
            longest = max(longest, loop.time() - started)
        return longest >= self.busy_s
