"""ChatStore's users: Chainlit's side, identity only; passwords and roles are managed by agent.users."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer.store_base import StoreBase
from agent.datalayer.store_rows import users
from tools.store.sql import insert, utcnow


class UserStore(StoreBase):
    async def user_row(self, identifier: str) -> dict[str, Any] | None:
        async def run(conn: AsyncConnection) -> dict[str, Any] | None:
            row = (await conn.execute(select(users).where(users.c.identifier == identifier))).first()
            return dict(row._mapping) if row else None

        return await self.transaction("get_user", None, run, writes=False)

    async def ensure_user(
        self, identifier: str, display_name: str | None, metadata: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Insert a customer, or refresh name/metadata of an existing user; role and password never change here."""
        metadata = {k: v for k, v in (metadata or {}).items() if k != "role"}  # role comes from the column only

        async def run(conn: AsyncConnection) -> dict[str, Any]:
            stmt = insert(conn, users).values(
                id=str(uuid.uuid4()), identifier=identifier, display_name=display_name, role="customer",
                metadata=metadata, created_at=utcnow(),
            )  # fmt: skip
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["identifier"]))
            changes: dict[str, Any] = {"display_name": display_name} if display_name else {}
            if metadata:
                current = (await conn.execute(select(users.c["metadata"]).where(users.c.identifier == identifier)))
                changes["metadata"] = {**(current.scalar_one() or {}), **metadata}
            if changes:
                await conn.execute(update(users).where(users.c.identifier == identifier).values(**changes))
            row = (await conn.execute(select(users).where(users.c.identifier == identifier))).one()
            return dict(row._mapping)

        return await self.transaction("create_user", None, run)
