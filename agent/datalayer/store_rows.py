"""The chat-history tables, which Chainlit dict key each column holds, and rows read back as Chainlit's dicts."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from typing import Any

from sqlalchemy import or_, select

from agent.datalayer import models
from agent.datalayer.db import format_ts

users, threads, steps = models.User.__table__, models.Thread.__table__, models.Step.__table__
elements, feedbacks = models.Element.__table__, models.Feedback.__table__

# StepDict key -> column. Keys outside these (and id/threadId/feedback) go to the `extra` JSON column.
STEP_COLUMNS = {
    "name": "name", "type": "type", "parentId": "parent_id", "input": "input", "output": "output",
    "isError": "is_error", "streaming": "streaming", "waitForAnswer": "wait_for_answer",
    "defaultOpen": "default_open", "autoCollapse": "auto_collapse", "showInput": "show_input",
    "language": "language", "icon": "icon", "command": "command", "metadata": "metadata", "tags": "tags",
    "modes": "modes", "generation": "generation",
}  # fmt: skip
STEP_TIMES = {"createdAt": "created_at", "start": "start_at", "end": "end_at"}
# `feedback` is read from the feedbacks table (written by upsert_feedback), never from a step dict.
STEP_NOT_STORED = {"id", "threadId", "feedback"}
KNOWN_STEP_KEYS = set(STEP_COLUMNS) | set(STEP_TIMES) | STEP_NOT_STORED
ELEMENT_COLUMNS = {
    "type": "type", "name": "name", "mime": "mime", "display": "display", "size": "size",
    "language": "language", "page": "page", "autoPlay": "auto_play", "playerConfig": "player_config",
    "props": "props", "url": "url", "objectKey": "object_key", "chainlitKey": "chainlit_key", "forId": "for_id",
}  # fmt: skip
MESSAGE_ROLES = {"user_message": "user", "assistant_message": "assistant"}
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def like(text: str) -> str:
    """A case-insensitive substring pattern for `ilike(..., escape="\\")`, in which % and _ are literal."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


def not_staff(staff_roles: Collection[str]) -> Any:
    """Rows whose owner (joined `users`) is not staff; a conversation nobody owns is a customer's."""
    return or_(users.c.role.is_(None), users.c.role.not_in(sorted(staff_roles)))


def _segment(value: str) -> str:
    # Thread ids come from the browser: anything unusual becomes a hash, never a path component.
    return value if _SAFE_SEGMENT.match(value) else hashlib.sha256(value.encode()).hexdigest()


def _thread_query() -> Any:
    return select(threads, users.c.identifier.label("user_identifier")).select_from(
        threads.outerjoin(users, threads.c.user_id == users.c.id)
    )


def _step_query() -> Any:
    return select(
        steps,
        feedbacks.c.id.label("feedback_id"),
        feedbacks.c.value.label("feedback_value"),
        feedbacks.c.comment.label("feedback_comment"),
    ).select_from(steps.outerjoin(feedbacks, feedbacks.c.for_id == steps.c.id))


def _thread_dict(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "createdAt": format_ts(m["created_at"]),
        "name": m["name"],
        "userId": m["user_id"],
        "userIdentifier": m["user_identifier"],
        "tags": m["tags"],
        "metadata": m["metadata"] or {},
        "steps": [],
        "elements": [],
    }


def _step_dict(row: Any) -> dict[str, Any]:
    m = row._mapping
    step: dict[str, Any] = dict(m["extra"] or {})
    step |= {"id": m["id"], "threadId": m["thread_id"]}
    step |= {key: m[column] for key, column in STEP_COLUMNS.items()}
    step |= {key: format_ts(m[column]) for key, column in STEP_TIMES.items()}
    step["metadata"] = m["metadata"] if m["metadata"] is not None else {}
    step["feedback"] = (
        {"forId": m["id"], "id": m["feedback_id"], "value": m["feedback_value"], "comment": m["feedback_comment"]}
        if m["feedback_id"]
        else None
    )
    return step
