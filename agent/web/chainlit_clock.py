"""Chainlit's messages and steps without its 1 ms pause.

`cl.Message(...)` and `cl.Step(...)` call `time.sleep(0.001)` so that objects made one after another get
different `created_at` times. That sleep blocks the event loop: every chat on the instance waits, once per
message and step, a few milliseconds a turn (Chainlit PR #1374 asks to remove it). Here the pause goes and what
it was for stays: inside those modules `utc_now` gives strictly increasing times, at least a microsecond apart,
and the data layer stores them to the microsecond, so a thread reloads in the order it was shown.
"""

from __future__ import annotations

import importlib
import threading
import time
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

_TICK = timedelta(microseconds=1)  # the stored timestamps' resolution
_lock = threading.Lock()
_last = datetime.min


def utc_now_increasing() -> str:
    """chainlit.utils.utc_now's format; never the same or an earlier time twice in this process."""
    global _last
    with _lock:
        now = datetime.now(UTC).replace(tzinfo=None)
        _last = now if now > _last else _last + _TICK
        return _last.isoformat() + "Z"


class _NoPause:
    """What those modules see as `time`: the real module, except that `sleep` returns at once."""

    @staticmethod
    def sleep(_seconds: float) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


CHAINLIT_MODULES = ("chainlit.message", "chainlit.step")  # by name: `chainlit.message` is also a function's name


def no_pause() -> None:
    """Idempotent. A Chainlit without the pause (no `time` in the module) is left as it is."""
    for module in map(importlib.import_module, CHAINLIT_MODULES):
        if isinstance(getattr(module, "time", None), ModuleType) and hasattr(module, "utc_now"):
            module.time = _NoPause()  # type: ignore[attr-defined]
            module.utc_now = utc_now_increasing  # type: ignore[attr-defined]
