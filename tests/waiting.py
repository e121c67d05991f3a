"""Waiting in tests for something to happen: poll it against a deadline, never sleep a guessed time (a helper)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], what: str, timeout: float = 5.0,
                     interval: float = 0.02) -> T:
    """Await `check()` until it returns something truthy, and return that; fail after `timeout` seconds.

    Returns as soon as the condition holds, so a fast machine does not wait, and a slow one gets until
    the deadline instead of a fixed sleep that is too short on a bad day.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: still not the case after {timeout:g} s (last check: {result!r})")
        await asyncio.sleep(interval)
