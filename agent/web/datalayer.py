"""Chainlit 2.12 data layer on our own tables (agent/datalayer), for Chainlit's history and feedback.

The SQL lives in store.ChatStore (plain dicts); this class only converts
Chainlit's objects and keeps Chainlit's "queue writes until the first user
message" behaviour, which its base class applies only to its own methods.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainlit.context import context_var
from chainlit.data.base import BaseDataLayer
from chainlit.data.utils import queue_until_user_message
from chainlit.types import Feedback, PageInfo, PaginatedResponse, Pagination, ThreadFilter
from chainlit.user import PersistedUser, User

from agent.chat.history import HUMAN
from agent.users import UserRecord, record_of
from agent.datalayer.storage import Storage, build_storage
from agent.datalayer.store import ChatStore, ThreadDeletedHook

if TYPE_CHECKING:
    from chainlit.element import Element

    from agent.settings import DatabaseSettings


def _queued(method: Any) -> Any:
    chainlit_queued = queue_until_user_message()(method)

    @functools.wraps(method)
    async def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Chainlit's decorator needs a Chainlit context; outside one (CLI, jobs, tests) write at once.
        if context_var.get(None) is None:
            return await method(self, *args, **kwargs)
        return await chainlit_queued(self, *args, **kwargs)

    return wrapper


def persisted_user(user: UserRecord) -> PersistedUser:
    # The role is exposed in metadata for the app, always from the column, never from stored metadata.
    return PersistedUser(
        id=user.id,
        identifier=user.identifier,
        display_name=user.display_name,
        metadata={**user.metadata, "role": user.role},
        createdAt=user.created_at,
    )


class SQLDataLayer(ChatStore, BaseDataLayer):
    @classmethod
    def from_settings(
        cls,
        settings: DatabaseSettings,
        *,
        storage: Storage | None = None,
        on_thread_deleted: ThreadDeletedHook | None = None,
        **options: Any,
    ) -> SQLDataLayer:
        return cls(
            settings.url,
            storage or build_storage(settings),
            schema=settings.schema_name,
            echo=settings.echo,
            write_retries=settings.write_retries,
            sqlite_threads=settings.sqlite_threads,
            known_conversations=settings.known_conversations,
            on_thread_deleted=on_thread_deleted,
            **options,
        )

    async def get_user(self, identifier: str) -> PersistedUser | None:
        row = await self.user_row(identifier)
        return persisted_user(record_of(row)) if row else None

    async def create_user(self, user: User) -> PersistedUser | None:
        return persisted_user(record_of(await self.ensure_user(user.identifier, user.display_name, user.metadata)))

    async def upsert_feedback(self, feedback: Feedback) -> str:
        return await self.save_feedback(
            for_id=feedback.forId,
            value=feedback.value,
            comment=feedback.comment,
            feedback_id=feedback.id,
            thread_id=feedback.threadId,
        )

    @_queued
    async def create_element(self, element: Element) -> None:
        data: bytes | None = None
        if element.content is not None:
            data = element.content.encode() if isinstance(element.content, str) else bytes(element.content)
        elif element.path:
            data = await asyncio.to_thread(Path(element.path).read_bytes)
        await self.save_element(dict(element.to_dict()), data)

    @_queued
    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        await super().delete_element(element_id, thread_id)

    @_queued
    async def create_step(self, step_dict: Any) -> None:
        await self.upsert_step(_from_page(step_dict))

    @_queued
    async def update_step(self, step_dict: Any) -> None:
        await self.upsert_step(_from_page(step_dict))

    @_queued
    async def delete_step(self, step_id: str) -> None:
        await super().delete_step(step_id)

    async def get_thread_author(self, thread_id: str) -> str:
        # "" makes chainlit.data.acl.is_thread_author answer 404 for unknown and ownerless threads.
        return await self.thread_owner(thread_id) or ""

    async def list_threads(self, pagination: Pagination, filters: ThreadFilter) -> PaginatedResponse:
        page, has_next = await self.thread_page(
            first=pagination.first,
            cursor=pagination.cursor,
            user_id=filters.userId,
            feedback=filters.feedback,
            search=filters.search,
        )
        return PaginatedResponse(
            pageInfo=PageInfo(
                hasNextPage=has_next,
                startCursor=page[0]["id"] if page else None,
                endCursor=page[-1]["id"] if page else None,
            ),
            data=page,
        )

    async def get_favorite_steps(self, user_id: str) -> list[Any]:
        return await self.favorite_steps(user_id)

    async def build_debug_url(self) -> str:
        return ""


def _from_page(step_dict: Any) -> dict[str, Any]:
    """A step as Chainlit sends it, which a browser can shape: it is never marked as a human colleague's message
    (only the desk writes those, through the chat service's history)."""
    step = dict(step_dict)
    if isinstance(step.get("metadata"), dict) and HUMAN in step["metadata"]:
        step["metadata"] = {key: value for key, value in step["metadata"].items() if key != HUMAN}
    return step
