"""Writes that arrive while one is being committed share the next transaction ("group commit").

A turn writes its steps several times (the page's copy of the customer's message, the run, the reply; the
service's transcript of the same), and a hundred chats do so at once. One transaction each makes SQLite's
single writer the queue every chat waits in: writers sleep in SQLite's busy handler while another holds the
lock across its statements' round trips through aiosqlite's thread. So a write that finds another being committed
waits, and the next transaction carries every write queued meanwhile. Alone, a write goes at once.
If a shared transaction fails, each of its writes is tried again alone, so one bad write fails only its caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """`await submit(item)` -> its result; `write(items)` commits many in one transaction, a result each."""

    def __init__(self, write: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]]) -> None:
        self._write = write
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        if self._writer is not None and self._writer.get_loop() is not loop:  # a store reused on a new loop
            self._writer, self._queue = None, []
        future: asyncio.Future[Result] = loop.create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            # Its own task: a caller that is cancelled while it waits does not cancel the others' transaction.
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                results = await self._write([item for item, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0][1], exc=exc)
                    continue
                for item, future in batch:  # alone: only the write that fails fails
                    try:
                        _settle(future, (await self._write([item]))[0])
                    except Exception as alone:
                        _settle(future, exc=alone)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                _settle(future, result)


def _settle(future: asyncio.Future, result: object = None, exc: BaseException | None = None) -> None:
    if future.done():  # its caller was cancelled; the write happened all the same
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
