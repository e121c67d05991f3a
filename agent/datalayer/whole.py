"""A transaction body written for an AsyncConnection, run whole on a synchronous one, in one worker-thread call.

On SQLite through aiosqlite each statement is several round trips between its thread and the event loop, and
under a hundred chats each round trip waits its turn on the loop: a one-row read took 200 ms, and a write held
SQLite's single write lock for 30 ms while every other writer waited (tools.store.sql.make_sqlite_file_engine says more).
The bodies only ever await their connection, so given a connection whose every method completes at once, a body
finishes on its first step: one thread call runs the whole transaction, the event loop never in between.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import Connection

from agent.errors import ConfigurationError

T = TypeVar("T")


class WholeConnection:
    """The part of AsyncConnection the store's transaction bodies use, on a synchronous connection."""

    def __init__(self, sync: Connection) -> None:
        self.sync = sync
        self.dialect = sync.dialect

    async def execute(self, statement: Any, parameters: Any = None, **options: Any) -> Any:
        return self.sync.execute(statement, parameters, **options)

    @contextlib.asynccontextmanager
    async def begin_nested(self) -> AsyncIterator[Any]:
        with self.sync.begin_nested() as savepoint:
            yield savepoint


def run_whole(fn: Callable[[Any], Awaitable[T]], sync: Connection) -> T:
    """Run the transaction body `fn` to its end on `sync`, in the calling thread."""
    body = fn(WholeConnection(sync))
    try:
        body.send(None)  # type: ignore[attr-defined]
    except StopIteration as finished:
        return finished.value
    body.close()  # type: ignore[attr-defined]
    raise ConfigurationError(f"{getattr(fn, '__qualname__', fn)} awaited something besides its connection")
