"""The store's engine and sessions. Same dialect handling as the chat history (SQLite or PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tools.store.sql import make_engine
from tools.settings import ToolConfig


class StoreDatabase:
    """One engine per process; `session()` is a unit of work that commits or rolls back as a whole."""

    def __init__(self, url: str, schema: str = "", echo: bool = False) -> None:
        self.url = url
        self.schema = schema
        self.engine: AsyncEngine = make_engine(url, schema, echo)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: ToolConfig, url: str | None = None) -> StoreDatabase:
        default_url, schema = settings.store_database
        return cls(url or default_url, schema, settings.database.echo)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Commit when the block ends normally, roll back on any exception."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session that never writes (rolled back at the end)."""
        async with self._sessions() as session:
            try:
                yield session
            finally:
                await session.rollback()

    async def dispose(self) -> None:
        await self.engine.dispose()
