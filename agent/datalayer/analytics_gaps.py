"""The content gaps the analytics cluster: the questions read back, their embeddings written back as a cache.

A question is one customer message (thread_id, step_id); it may have several gap rows, one per kind (missed,
rated_down, handed_over). The range [since, until) selects questions by the time they were asked (`asked_at`),
the most recent `limit` questions; staff's own conversations never count. Embeddings are float32 vectors in
the rows' `embedding` bytes, written to every row of the question the first time it is clustered.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from agent.datalayer import models
from agent.datalayer.analytics import facts
from agent.datalayer.db import parse_ts
from agent.datalayer.store_base import StoreBase
from agent.datalayer.models import STAFF_ROLES
from agent.datalayer.store_rows import not_staff, users

gaps = models.ContentGap.__table__


@dataclass(frozen=True)
class GapQuestion:
    thread_id: str
    step_id: str
    question: str
    asked_at: datetime
    kinds: frozenset[str]  # of models.GAP_KINDS
    embedding: bytes | None  # float32 bytes, None until first clustered


class GapQueries:
    def __init__(self, store: StoreBase, staff_roles: Collection[str] = STAFF_ROLES) -> None:
        self.store = store
        self.staff_roles = frozenset(staff_roles)

    async def questions(self, since: datetime, until: datetime, limit: int) -> list[GapQuestion]:
        """The `limit` most recently asked gap questions in [since, until), newest first."""
        since, until = parse_ts(since), parse_ts(until)
        key = (gaps.c.thread_id, gaps.c.step_id)
        latest = (
            select(*key, func.max(gaps.c.asked_at).label("asked_at"))
            .select_from(gaps.join(facts, facts.c.thread_id == gaps.c.thread_id)
                         .outerjoin(users, facts.c.user_id == users.c.id))
            .where(gaps.c.asked_at >= since, gaps.c.asked_at < until, not_staff(self.staff_roles))
            .group_by(*key)
            .order_by(func.max(gaps.c.asked_at).desc(), gaps.c.thread_id, gaps.c.step_id)
            .limit(max(0, int(limit)))
            .subquery()
        )
        query = (
            select(gaps.c.thread_id, gaps.c.step_id, gaps.c.kind, gaps.c.question, gaps.c.embedding,
                   latest.c.asked_at)
            .join(latest, (gaps.c.thread_id == latest.c.thread_id) & (gaps.c.step_id == latest.c.step_id))
            .order_by(latest.c.asked_at.desc(), gaps.c.thread_id, gaps.c.step_id, gaps.c.kind)
        )  # fmt: skip

        async def run(conn: AsyncConnection) -> list[GapQuestion]:
            found: dict[tuple[str, str], GapQuestion] = {}
            for r in (await conn.execute(query)).all():
                seen = found.get((r.thread_id, r.step_id))
                kinds = (seen.kinds if seen else frozenset()) | {r.kind}
                embedding = (seen.embedding if seen else None) or r.embedding
                found[(r.thread_id, r.step_id)] = GapQuestion(
                    r.thread_id, r.step_id, r.question, r.asked_at, kinds, embedding
                )
            return list(found.values())

        return await self.store.transaction("workspace_gap_questions", None, run)

    async def save_embeddings(self, vectors: Sequence[tuple[str, str, bytes]]) -> None:
        """Cache (thread_id, step_id, float32 bytes) on every gap row of each question."""
        if not vectors:
            return
        statement = (
            update(gaps)
            .where(gaps.c.thread_id == bindparam("t"), gaps.c.step_id == bindparam("s"))
            .values(embedding=bindparam("e"))
        )
        rows = [{"t": thread_id, "s": step_id, "e": data} for thread_id, step_id, data in vectors]

        async def run(conn: AsyncConnection) -> None:
            await conn.execute(statement, rows)

        await self.store.transaction("workspace_gap_embeddings", None, run)
