"""ChatStore's audit trail of staff access: who opened which conversation's transcript, and when.

Rows are only ever added (transcript_views has no foreign key, so the trail outlives a deleted conversation).
The web layer writes one before it hands a transcript to a staff member who is not its author, and refuses the
view when the write fails (agent/web/routes.py): staff access that cannot be recorded does not happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer import models
from agent.datalayer.store_base import StoreBase
from tools.store.sql import utcnow

transcript_views = models.TranscriptView.__table__


@dataclass(frozen=True)
class TranscriptViewRow:
    thread_id: str
    viewer: str  # the staff member's identifier
    viewed_at: datetime  # naive UTC


class AuditStore(StoreBase):
    async def log_transcript_view(self, thread_id: str, viewer: str, viewed_at: datetime | None = None) -> None:
        """Record that `viewer` opened `thread_id`'s transcript (now, unless `viewed_at` says otherwise)."""
        values = {"thread_id": thread_id, "viewer": viewer, "viewed_at": viewed_at or utcnow()}

        async def run(conn: AsyncConnection) -> None:
            await conn.execute(insert(transcript_views).values(values))

        await self.transaction("log_transcript_view", thread_id, run)

    async def transcript_views(self, thread_id: str) -> list[TranscriptViewRow]:
        """Who opened this conversation's transcript, oldest first."""
        query = (
            select(transcript_views.c.thread_id, transcript_views.c.viewer, transcript_views.c.viewed_at)
            .where(transcript_views.c.thread_id == thread_id)
            .order_by(transcript_views.c.viewed_at, transcript_views.c.id)
        )

        async def run(conn: AsyncConnection) -> list[TranscriptViewRow]:
            return [TranscriptViewRow(*row) for row in (await conn.execute(query)).all()]

        return await self.transaction("transcript_views", thread_id, run)
