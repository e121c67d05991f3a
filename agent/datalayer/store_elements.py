"""ChatStore's elements: rows in SQL, their files in storage under keys no browser-chosen id can steer."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer.errors import DataLayerError, ThreadOwnershipError
from agent.datalayer.store_base import StoreBase, owned_upsert
from agent.datalayer.store_rows import ELEMENT_COLUMNS, _segment, elements
from tools.store.sql import utcnow


class ElementStore(StoreBase):
    def object_key(self, thread_id: str, element_id: str) -> str:
        return f"threads/{_segment(thread_id)}/{_segment(element_id)}"

    async def save_element(self, element: dict[str, Any], data: bytes | None) -> None:
        """Upsert an element row; `data` (its file) goes to storage first and the row records objectKey."""
        thread_id, element_id = element.get("threadId"), element.get("id")
        if not thread_id or not element_id:
            raise DataLayerError(f"element {element_id!r} needs an id and a threadId", thread_id=thread_id)
        values = {"id": element_id, "thread_id": thread_id, "created_at": utcnow()}
        values |= {column: element.get(key) for key, column in ELEMENT_COLUMNS.items()}
        if data is not None and not element.get("url"):
            key = self.object_key(thread_id, element_id)
            mime = element.get("mime") or "application/octet-stream"
            values["url"] = await self._storage_call(
                "upload element file", thread_id, lambda: self.storage.upload(key, data, mime)
            )
            values["object_key"] = key

        async def run(conn: AsyncConnection) -> None:
            await self._ensure_thread(conn, thread_id)
            # Nothing returned: the id is another thread's element, left as it was.
            changed = tuple(k for k in values if k not in ("id", "thread_id", "created_at"))
            if (await conn.execute(owned_upsert(conn.dialect.name, elements, changed), values)).first() is None:
                raise ThreadOwnershipError(f"element {element_id} belongs to another thread", thread_id=thread_id)

        await self.transaction("create_element", thread_id, run)

    async def get_element(self, thread_id: str, element_id: str) -> dict[str, Any] | None:
        async def run(conn: AsyncConnection) -> Any:
            query = select(elements).where(elements.c.id == element_id, elements.c.thread_id == thread_id)
            return (await conn.execute(query)).first()

        row = await self.transaction("get_element", thread_id, run)
        return self._element_dict(row) if row else None

    async def element_file(self, thread_id: str, element_id: str) -> tuple[bytes, str, str] | None:
        """(bytes, mime, name) of a stored element file, for the app's file route (check ownership first)."""
        element = await self.get_element(thread_id, element_id)
        if not element or not element.get("objectKey"):
            return None
        key = element["objectKey"]
        data = await self._storage_call("read element file", thread_id, lambda: self.storage.read(key))
        return data, element.get("mime") or "application/octet-stream", element.get("name") or element_id

    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        async def run(conn: AsyncConnection) -> list[str]:
            where = [elements.c.id == element_id] + ([elements.c.thread_id == thread_id] if thread_id else [])
            keys = (await conn.execute(select(elements.c.object_key).where(*where))).scalars().all()
            await conn.execute(delete(elements).where(*where))
            return [k for k in keys if k]

        for key in await self.transaction("delete_element", thread_id, run):
            await self._storage_call("delete element file", thread_id, lambda key=key: self.storage.delete(key))
