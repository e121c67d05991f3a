"""Our HTTP routes beside Chainlit's: stored files for their owner, ratings by their author, health.

Chainlit's catch-all route (and its own /health and /feedback) would answer first, so `install`
puts ours in front of its routes.
"""

from __future__ import annotations

from collections.abc import Callable

import chainlit as cl
from chainlit import server as chainlit_server
from chainlit.auth import get_current_user
from chainlit.session import WebsocketSession
from chainlit.types import DeleteFeedbackRequest, UpdateFeedbackRequest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response

from agent.datalayer.store import ChatStore

NOT_FOUND = "Not found"


def _live_thread(session_id: str, user: cl.User | None) -> str | None:
    """The thread of this user's open chat session (its steps may not be saved yet)."""
    session = WebsocketSession.get_by_id(session_id)
    if session is None or (session.user.identifier if session.user else None) != (user.identifier if user else None):
        return None
    return session.thread_id


def routes(history: ChatStore, circuits: Callable[[], dict[str, str]]) -> APIRouter:
    router = APIRouter()

    @router.get("/files/threads/{thread_id}/{element_id}")
    async def element_file(thread_id: str, element_id: str, user: cl.User | None = Depends(get_current_user)) -> Response:
        """Stored element files (cited passages, attachments), only for the thread's owner."""
        owner = user.identifier if user else None
        if owner is None or not await history.is_owner(thread_id, owner):
            raise HTTPException(status_code=404, detail=NOT_FOUND)
        found = await history.element_file(thread_id, element_id)
        if found is None:
            raise HTTPException(status_code=404, detail=NOT_FOUND)
        data, mime, _name = found
        return Response(data, media_type=mime, headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private"})

    @router.get("/health")
    async def health() -> dict[str, object]:
        """Liveness plus each tool backend's circuit (closed, open, half_open), for load balancers and leads."""
        return {"status": "ok", "circuits": circuits()}

    @router.put("/feedback")
    async def update_feedback(
        request: Request, update: UpdateFeedbackRequest, user: cl.User | None = Depends(get_current_user)
    ) -> Response:
        """Chainlit's rating route, which checks no ownership, for the rated conversation's author only."""
        thread_id = await history.step_thread(update.feedback.forId) or update.feedback.threadId
        owned = bool(user and thread_id) and await history.is_owner(thread_id, user.identifier)
        if not thread_id or not (owned or _live_thread(update.sessionId, user) == thread_id):
            raise HTTPException(status_code=404, detail=NOT_FOUND)
        return await chainlit_server.update_feedback(request, update, user)

    @router.delete("/feedback")
    async def delete_feedback(
        request: Request, payload: DeleteFeedbackRequest, user: cl.User | None = Depends(get_current_user)
    ) -> Response:
        thread_id = await history.feedback_thread(payload.feedbackId)
        if not (user and thread_id and await history.is_owner(thread_id, user.identifier)):
            raise HTTPException(status_code=404, detail=NOT_FOUND)
        return await chainlit_server.delete_feedback(request, payload, user)

    return router


def install(app: FastAPI, router: APIRouter) -> None:
    """Add `router`'s routes in front of Chainlit's, so they answer first."""
    before = len(app.router.routes)
    app.include_router(router)
    ours = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = ours
