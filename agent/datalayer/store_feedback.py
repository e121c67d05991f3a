"""ChatStore's feedback: one rating per step, and the thread a rating or a step belongs to.

A rating given, changed or deleted updates the conversation's facts in the same transaction (facts.rating_changed).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer.facts import rating_changed
from agent.datalayer.store_base import StoreBase
from agent.datalayer.store_rows import feedbacks, steps
from tools.store.sql import insert, utcnow


class FeedbackStore(StoreBase):
    async def save_feedback(
        self, *, for_id: str, value: int, comment: str | None, feedback_id: str | None, thread_id: str | None
    ) -> str:
        async def run(conn: AsyncConnection) -> str:
            # The step's own thread wins over the client-supplied threadId, so a rating counts where it belongs.
            owner = (await conn.execute(select(steps.c.thread_id).where(steps.c.id == for_id))).scalar()
            changes = {"value": int(value), "comment": comment}
            if feedback_id:
                result = await conn.execute(
                    update(feedbacks).where(feedbacks.c.id == feedback_id, feedbacks.c.for_id == for_id).values(changes)
                )
                if result.rowcount:
                    await rating_changed(conn, owner or thread_id)
                    return feedback_id
            stmt = insert(conn, feedbacks).values(
                id=feedback_id or str(uuid.uuid4()), for_id=for_id, thread_id=owner or thread_id,
                created_at=utcnow(), **changes,
            )  # fmt: skip
            stmt = stmt.on_conflict_do_update(index_elements=["for_id"], set_=changes)
            await conn.execute(stmt)
            await rating_changed(conn, owner or thread_id)
            return (await conn.execute(select(feedbacks.c.id).where(feedbacks.c.for_id == for_id))).scalar_one()

        return await self.transaction("upsert_feedback", thread_id, run)

    async def step_thread(self, step_id: str) -> str | None:
        async def run(conn: AsyncConnection) -> str | None:
            return (await conn.execute(select(steps.c.thread_id).where(steps.c.id == step_id))).scalar()

        return await self.transaction("step_thread", None, run)

    async def feedback_thread(self, feedback_id: str) -> str | None:
        """The thread of the rated step, or the one recorded with the rating when the step is gone."""

        async def run(conn: AsyncConnection) -> str | None:
            return (await conn.execute(_feedback_thread().where(feedbacks.c.id == feedback_id))).scalar()

        return await self.transaction("feedback_thread", None, run)

    async def delete_feedback(self, feedback_id: str) -> bool:
        async def run(conn: AsyncConnection) -> bool:
            thread_id = (await conn.execute(_feedback_thread().where(feedbacks.c.id == feedback_id))).scalar()
            deleted = bool((await conn.execute(delete(feedbacks).where(feedbacks.c.id == feedback_id))).rowcount)
            if deleted:
                await rating_changed(conn, thread_id)
            return deleted

        return await self.transaction("delete_feedback", None, run)


def _feedback_thread() -> Any:
    """The thread of a rating: its step's, or the one recorded with it when the step is gone."""
    return select(func.coalesce(steps.c.thread_id, feedbacks.c.thread_id)).select_from(
        feedbacks.outerjoin(steps, steps.c.id == feedbacks.c.for_id)
    )
