"""ChatStore's live hand-overs (agent.chat.handovers.Handovers): who holds a conversation, the facts' hand-over
times, and the outbox of notifications for customers who were away when a human answered."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.chat.handovers import Handover, HandoverTaken, Staff
from agent.datalayer import models
from agent.datalayer.store_base import StoreBase
from agent.datalayer.store_rows import threads, users
from tools.store.sql import utcnow

handovers, outbox = models.Handover.__table__, models.OutboxMessage.__table__
conversation_facts = models.ConversationFacts.__table__
HUMAN_REPLY = "human_reply"  # the outbox's kind for a human's message to an absent customer


def _handover(row: Any) -> Handover:
    m = row._mapping
    return Handover(m["id"], m["thread_id"], m["ticket_id"], Staff(m["staff"], m["staff_name"]), m["escalated_at"],
                    m["started_at"], m["first_reply_at"], m["ended_at"])  # fmt: skip


async def _live(conn: AsyncConnection, thread_id: str) -> Handover | None:
    found = (await conn.execute(
        select(handovers).where(handovers.c.thread_id == thread_id, handovers.c.ended_at.is_(None))
    )).first()  # fmt: skip
    return _handover(found) if found else None


class HandoverStore(StoreBase):
    async def live_handover(self, conversation_id: str) -> Handover | None:
        async def run(conn: AsyncConnection) -> Handover | None:
            return await _live(conn, conversation_id)

        return await self.transaction("live_handover", conversation_id, run, writes=False)

    async def start_handover(self, conversation_id: str, ticket_id: str, staff: Staff,
                             escalated_at: datetime) -> Handover:
        async def run(conn: AsyncConnection) -> Handover:
            held = await _live(conn, conversation_id)
            if held is not None:
                return held
            await self._ensure_thread(conn, conversation_id)
            row = {"id": str(uuid.uuid4()), "thread_id": conversation_id, "ticket_id": ticket_id,
                   "staff": staff.identifier, "staff_name": staff.name, "escalated_at": escalated_at,
                   "started_at": utcnow()}  # fmt: skip
            try:
                async with conn.begin_nested():  # a savepoint: losing the race must not abort the transaction
                    await conn.execute(insert(handovers).values(row))
            except IntegrityError:  # another instance's take-over won between our read and our insert
                won = await _live(conn, conversation_id)
                if won is None:  # and has ended already: nothing to report, the lead tries again
                    raise
                return won
            return Handover(**_fields(row))

        held = await self.transaction("start_handover", conversation_id, run)
        if held.staff.identifier != staff.identifier:
            raise HandoverTaken(held.staff)
        return held

    async def end_handover(self, conversation_id: str, reason: str) -> Handover | None:
        async def run(conn: AsyncConnection) -> Handover | None:
            held = await _live(conn, conversation_id)
            if held is None:
                return None
            ended = utcnow()
            await conn.execute(update(handovers).where(handovers.c.id == held.id)
                               .values(ended_at=ended, end_reason=reason))  # fmt: skip
            return dataclasses.replace(held, ended_at=ended)

        return await self.transaction("end_handover", conversation_id, run)

    async def first_human_reply(self, handover: Handover) -> bool:
        async def run(conn: AsyncConnection) -> bool:
            done = await conn.execute(update(handovers)
                                      .where(handovers.c.id == handover.id, handovers.c.first_reply_at.is_(None))
                                      .values(first_reply_at=utcnow()))  # fmt: skip
            return bool(done.rowcount)

        return await self.transaction("first_human_reply", handover.conversation_id, run)

    async def handover_times(self, conversation_id: str, *, pickup_ms: int | None = None,
                             first_reply_ms: int | None = None) -> None:
        c = conversation_facts.c

        async def run(conn: AsyncConnection) -> None:
            # Each only while unset: a second hand-over of the same conversation keeps the first one's times.
            for column, value in ((c.human_pickup_ms, pickup_ms), (c.human_first_reply_ms, first_reply_ms)):
                if value is not None:
                    await conn.execute(update(conversation_facts)
                                       .where(c.thread_id == conversation_id, column.is_(None))
                                       .values({column.key: value, "updated_at": utcnow()}))  # fmt: skip

        await self.transaction("handover_times", conversation_id, run)

    async def notify_absent(self, conversation_id: str, subject: str, body: str) -> bool:
        async def run(conn: AsyncConnection) -> bool:
            recipient = (await conn.execute(
                select(users.c.identifier).join(threads, threads.c.user_id == users.c.id)
                .where(threads.c.id == conversation_id)
            )).scalar()  # fmt: skip
            if recipient is None:
                return False  # an anonymous conversation has nobody to notify: the reply waits in the thread
            await conn.execute(insert(outbox).values(thread_id=conversation_id, recipient=recipient, kind=HUMAN_REPLY,
                                                     subject=subject, body=body, created_at=utcnow()))  # fmt: skip
            return True

        return await self.transaction("notify_absent", conversation_id, run)

    async def pending_notifications(self, limit: int) -> list[dict[str, Any]]:
        """The oldest unsent outbox rows, for a sending worker (and the tests)."""

        async def run(conn: AsyncConnection) -> list[dict[str, Any]]:
            unsent = select(outbox).where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id).limit(limit)
            rows = await conn.execute(unsent)
            return [dict(row._mapping) for row in rows]

        return await self.transaction("pending_notifications", None, run)


def _fields(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "conversation_id": row["thread_id"], "ticket_id": row["ticket_id"],
            "staff": Staff(row["staff"], row["staff_name"]), "escalated_at": row["escalated_at"],
            "started_at": row["started_at"]}  # fmt: skip
