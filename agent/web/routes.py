"""Our HTTP routes beside Chainlit's: stored files for their owner, ratings by their author, health, and
thread sharing as the settings say, with staff's openings of transcripts recorded.

Chainlit's catch-all route (and its own /health, /feedback and share routes) would answer first, so `install`
puts ours in front of its routes.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

import chainlit as cl
from chainlit import server as chainlit_server
from chainlit.auth import authenticate_user, get_current_user, require_login, reuseable_oauth
from chainlit.config import config
from chainlit.session import WebsocketSession
from chainlit.types import DeleteFeedbackRequest, ShareThreadRequest, UpdateFeedbackRequest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, UploadFile

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from agent import metrics
from agent.datalayer.errors import DataLayerError
from agent.datalayer.store import ChatStore
from agent.readiness import Readiness
from agent.web.auth import bearer_token, is_staff
from agent.web.limits import AttachmentWindow
from knowledge.convert import EMPTY

NOT_FOUND = "Not found"
AUDIT_UNAVAILABLE = "The transcript cannot be opened right now (its opening could not be recorded). Try again."
log = logging.getLogger(__name__)


def _live_thread(session_id: str, user: cl.User | None) -> str | None:
    """The thread of this user's open chat session (its steps may not be saved yet)."""
    session = WebsocketSession.get_by_id(session_id)
    if session is None or (session.user.identifier if session.user else None) != (user.identifier if user else None):
        return None
    return session.thread_id


async def signed_in_or_none(token: str | None = Depends(reuseable_oauth)) -> cl.User | None:
    """The signed-in user like Chainlit's `get_current_user`, but None instead of a 401 for anonymous
    callers and bad tokens, so a guard can answer them 404 like everyone else it refuses."""
    if not token or not require_login():
        return None
    try:
        return await authenticate_user(token)
    except HTTPException:
        return None


def routes(history: ChatStore, circuits: Callable[[], dict[str, str]], ready: Readiness | None = None,
           metrics_token: str = "") -> APIRouter:
    router = APIRouter()
    _file_and_health_routes(router, history, circuits)
    if ready is not None:
        _probe_routes(router, ready, metrics_token)
    _feedback_routes(router, history)
    _sharing_routes(router, history)
    return router


def _file_and_health_routes(router: APIRouter, history: ChatStore, circuits: Callable[[], dict[str, str]]) -> None:
    @router.get("/files/threads/{thread_id}/{element_id}")
    async def element_file(
        thread_id: str, element_id: str, user: cl.User | None = Depends(signed_in_or_none)
    ) -> Response:
        """Stored element files (cited passages, attachments), only for the thread's owner; everyone else, signed
        in or not, gets the same 404 as for a file that does not exist."""
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


def _probe_routes(router: APIRouter, ready: Readiness, metrics_token: str) -> None:
    @router.get("/ready")
    async def readiness() -> JSONResponse:
        """Readiness for a load balancer: 503 naming each failing dependency (database, redis, chroma, model);
        /health stays the liveness probe, so a database outage takes the instance out of rotation, not restarts it."""
        failing = await ready.failing()
        checks = {name: failing.get(name, "ok") for name in ready.checks}
        if failing:
            return JSONResponse({"status": "unavailable", "failing": sorted(failing), "checks": checks}, status_code=503)
        return JSONResponse({"status": "ready", "checks": checks})

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """This instance's Prometheus metrics (agent/metrics.py); each instance is scraped on its own.
        Open unless OBSERVABILITY_METRICS_TOKEN is set: then only the scraper's bearer token reads them."""
        if metrics_token and not hmac.compare_digest(bearer_token(request.headers).encode(), metrics_token.encode()):
            return Response("A bearer token is required.", status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def _feedback_routes(router: APIRouter, history: ChatStore) -> None:
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


def _sharing_routes(router: APIRouter, history: ChatStore) -> None:
    @router.put("/project/thread/share")
    async def share_thread(
        request: Request, payload: ShareThreadRequest, user: cl.User | None = Depends(signed_in_or_none)
    ) -> Response:
        """Chainlit's share toggle, which `allow_thread_sharing = false` only hides from the page: refused
        unless the setting is on (then Chainlit's handler, which lets only the author share)."""
        if not config.features.allow_thread_sharing:
            raise HTTPException(status_code=404, detail=NOT_FOUND)
        return await chainlit_server.share_thread(request, payload, user)

    @router.get("/share/{thread_id}", include_in_schema=False)
    async def shared_page(
        request: Request, thread_id: str, user: cl.User | None = Depends(signed_in_or_none)
    ) -> Response:
        """The transcript page itself: 404 to a signed-in user who is neither the author nor staff, so a link
        that leaked says nothing (not even that the conversation exists). Anonymous visitors get the page,
        which asks them to sign in; the data route below then decides again."""
        if user is not None and not (await history.is_owner(thread_id, user.identifier)
                                     or await is_staff(history, user.identifier)):
            raise HTTPException(status_code=404, detail=NOT_FOUND)
        return await chainlit_server.serve(request)

    @router.get("/project/share/{thread_id}")
    async def shared_thread(
        request: Request, thread_id: str, user: cl.User | None = Depends(signed_in_or_none)
    ) -> Response:
        """Chainlit's read-only view, which anyone, even anonymous, may open once `is_shared` is set: only for
        the thread's author and for staff (lead or admin in the users table, read on this request).

        A staff member opening someone else's transcript is recorded (who, when) before the transcript leaves;
        if the record cannot be written the view is refused with a 503: unrecorded staff access does not happen.
        The author reading their own conversation is not recorded."""
        author = user is not None and await history.is_owner(thread_id, user.identifier)
        staff = user is not None and not author and await is_staff(history, user.identifier)
        if user is None or not (author or staff):
            raise HTTPException(status_code=404, detail=NOT_FOUND)
        response = await chainlit_server.get_shared_thread(request, thread_id, user)  # 404 for unknown threads
        if staff:
            try:
                await history.log_transcript_view(thread_id, user.identifier)
            except DataLayerError as exc:
                log.error("transcript %s not shown to %s: the view could not be recorded", thread_id, user.identifier)
                raise HTTPException(status_code=503, detail=AUDIT_UNAVAILABLE) from exc
        return response


def upload_routes(window: AttachmentWindow) -> APIRouter:
    """Chainlit's upload route, which stores an empty file's request as a 500 and any number of files per message:
    an empty file, or one more than a message may carry, is refused with a 400 the page shows, and nothing is stored."""
    router = APIRouter()

    @router.post("/project/file")
    async def upload_file(
        session_id: str, file: UploadFile, ask_parent_id: str | None = None,
        user: cl.User | None = Depends(get_current_user),
    ) -> Response:
        session = WebsocketSession.get_by_id(session_id)
        if session is None or (user and (not session.user or session.user.identifier != user.identifier)):
            return await chainlit_server.upload_file(user, session_id, file, ask_parent_id)  # its 404 or 401
        if await _is_empty(file):
            metrics.UPLOAD_REJECTIONS.labels("empty").inc()
            raise HTTPException(status_code=400, detail=f"Couldn't attach {file.filename}: {EMPTY}.")
        if ask_parent_id:  # a file the assistant asked for (AskFileMessage) has its own count
            return await chainlit_server.upload_file(user, session_id, file, ask_parent_id)
        if not window.reserve(session):
            metrics.UPLOAD_REJECTIONS.labels("too_many").inc()
            raise HTTPException(status_code=400, detail=window.too_many())
        try:
            return await chainlit_server.upload_file(user, session_id, file, ask_parent_id)
        finally:
            window.release(session)

    return router


async def _is_empty(file: UploadFile) -> bool:
    if file.size is not None:
        return file.size == 0
    empty = not await file.read(1)
    await file.seek(0)
    return empty


class Prefixed:
    """ASGI middleware: every HTTP request under `prefix` goes to `sub`, with the root path set as a Mount sets it.
    Not a Mount: its pattern does not match a path holding a newline (%0A), which then reached Chainlit's routes."""

    def __init__(self, app: ASGIApp, prefix: str, sub: ASGIApp) -> None:
        self.app, self.prefix, self.sub = app, prefix, sub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == self.prefix or path.startswith(self.prefix + "/")):
            root = scope.get("root_path", "")
            await self.sub({**scope, "app_root_path": scope.get("app_root_path", root), "root_path": root + self.prefix},
                           receive, send)  # fmt: skip
            return
        await self.app(scope, receive, send)


def mount(app: FastAPI, path: str, sub: FastAPI) -> None:
    """Serve `sub` under `path`, before any of Chainlit's routes."""
    app.add_middleware(Prefixed, prefix=path, sub=sub)


def install(app: FastAPI, router: APIRouter) -> None:
    """Add `router`'s routes in front of Chainlit's, so they answer first."""
    before = len(app.router.routes)
    app.include_router(router)
    ours = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[:0] = ours
