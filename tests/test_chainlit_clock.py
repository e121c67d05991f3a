"""Chainlit's messages and steps are made without blocking the event loop, and still in order."""

from __future__ import annotations

import time

import asyncio
import importlib
from datetime import datetime

import chainlit as cl
import chainlit.utils
from chainlit.context import init_http_context
import pytest

from agent.datalayer.db import parse_ts
from agent.web import chainlit_clock

MESSAGE, STEP = map(importlib.import_module, chainlit_clock.CHAINLIT_MODULES)


@pytest.fixture
def patched(monkeypatch):
    for module in (MESSAGE, STEP):  # undone after the test: other tests see Chainlit as shipped
        monkeypatch.setattr(module, "time", module.time)
        monkeypatch.setattr(module, "utc_now", module.utc_now)
    chainlit_clock.no_pause()


async def test_a_message_is_made_without_sleeping(patched, monkeypatch):
    slept = []
    monkeypatch.setattr(time, "sleep", lambda seconds: slept.append(seconds))

    async def make() -> cl.Message:
        init_http_context()  # Chainlit's context for code outside a chat, as a REST route has
        return cl.Message(content="hello")

    message = await asyncio.create_task(make())  # a task's own copy of the context: nothing leaks out
    assert message.content == "hello" and not slept, f"Chainlit slept {slept} making a message"


class FrozenClock(datetime):
    """A clock that does not move: as a fast machine sees it between two objects."""

    @classmethod
    def now(cls, tz=None):
        return datetime(2026, 12, 4, 10, 0, 0, 0, tzinfo=tz)


def test_times_inside_chainlit_never_repeat_or_go_back(patched, monkeypatch):
    monkeypatch.setattr(chainlit.utils, "datetime", FrozenClock)
    monkeypatch.setattr(chainlit_clock, "datetime", FrozenClock)
    times = [MESSAGE.utc_now() for _ in range(500)] + [STEP.utc_now() for _ in range(500)]
    assert all(t.endswith("Z") for t in times)
    moments = [parse_ts(t) for t in times]  # as the data layer stores them
    assert all(a < b for a, b in zip(moments, moments[1:])), "two objects share a created_at or go back in time"


def test_patching_twice_changes_nothing(patched):
    first = MESSAGE.time
    chainlit_clock.no_pause()
    assert MESSAGE.time is first
