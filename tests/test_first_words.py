"""First words before bookkeeping (agent/chat/priority.py): a turn that has answered holds its writes while a
crowd of other turns still waits for first words, never past the longest wait. The chat service's use of it is in
tests/test_chat_service.py."""

from __future__ import annotations

import asyncio
import time

from agent.chat.priority import FirstWordsFirst


async def test_a_turn_waits_while_the_crowd_waits_and_goes_when_it_thins():
    first_words = FirstWordsFirst(crowd=2, max_wait_s=5.0)
    for _ in range(3):
        first_words.arrived()
    held = asyncio.ensure_future(first_words.yield_to_waiting())
    await asyncio.sleep(0.05)
    first_words.answered()  # two still waiting: a crowd yet
    await asyncio.sleep(0.05)
    assert not held.done()
    first_words.answered()
    await asyncio.wait_for(held, 1)


async def test_the_wait_is_bounded_and_off_when_the_crowd_is_zero():
    bounded = FirstWordsFirst(crowd=1, max_wait_s=0.05)
    bounded.arrived()
    started = time.monotonic()
    await asyncio.wait_for(bounded.yield_to_waiting(), 1)
    assert time.monotonic() - started >= 0.05 and not bounded._held

    off = FirstWordsFirst(crowd=0, max_wait_s=5.0)
    for _ in range(100):
        off.arrived()
    await asyncio.wait_for(off.yield_to_waiting(), 0.01)


async def test_an_idle_loop_holds_nothing():
    """Turns waiting on a remote model leave the loop idle: holding the writes would help nobody."""
    first_words = FirstWordsFirst(crowd=1, max_wait_s=5.0, busy_s=0.05)
    for _ in range(10):
        first_words.arrived()
    await asyncio.wait_for(first_words.yield_to_waiting(), 0.04)


async def test_a_busy_loop_holds():
    first_words = FirstWordsFirst(crowd=1, max_wait_s=0.1, busy_s=0.01)
    first_words.arrived()
    loop = asyncio.get_running_loop()
    loop.call_soon(time.sleep, 0.02)  # queued work: the next round of the loop takes 20 ms
    started = time.monotonic()
    await first_words.yield_to_waiting()
    assert time.monotonic() - started >= 0.1, "held up to its longest wait"
