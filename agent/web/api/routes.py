"""The HTTP API (/api/v1): a customer's conversations, their transcripts, messages and confirmation clicks, all
through the same chat service as the Chainlit page. The customer is whoever the bearer token names
(agent/web/api/auth.py); a conversation of anyone else answers 404, like one that does not exist."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from http import HTTPStatus
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from agent.chat.history import HUMAN
from agent.chat.intake import Upload
from agent.chat.service import ChatService, Customer
from agent.datalayer.store import ChatStore
from agent.runner.events import AgentEvent
from agent.web.api.auth import ApiCaller
from agent.web.api.events import card_id, event_dict, turn_result
from agent.web.api.idempotency import MAX_KEY_CHARS, Idempotency
from agent.web.api.problems import TYPE_BASE, ApiProblem, problem
from agent.web.api.schemas import (
    ConfirmationIn, Conversation, ConversationPage, Message, MessageIn, Transcript, TurnResult, message_model,
    multipart_schema, problem_responses,
)  # fmt: skip

NOT_FOUND = "No such conversation."
NO_CARD = "No such confirmation card in this conversation."
EMPTY = "Write a message (`text`) or attach a file."
TOO_LONG = "The message is too long: at most {limit:,} characters."
UNSUPPORTED = "Send the message as application/json or multipart/form-data."
EVENT_STREAM = "text/event-stream"
MAX_ID_CHARS = 255  # a thread id's column width: a longer one names no conversation
MULTIPART_FIELDS = 2  # text, and one more so that an unknown field is reported rather than dropped
# A refused turn's reason, as the status and problem kind the API answers with.
REFUSALS = {"rate_limited": (429, "rate-limited"), "draining": (503, "unavailable"), "empty": (422, "invalid-request"),
            "invalid_input": (422, "invalid-request"), "held_card": (409, "conflict")}  # fmt: skip
TURN_RESPONSES = {200: {"content": {EVENT_STREAM: {"schema": {"type": "string"}}},
                        "description": "The turn as JSON, or its events as server-sent events"},
                  **problem_responses(400, 401, 404, 409, 413, 415, 422, 429, 503)}  # fmt: skip
ROLES = {"user_message": "customer", "assistant_message": "assistant"}


def api_routes(chat: ChatService, history: ChatStore, caller: Callable[..., Any], idempotency: Idempotency, *,
               max_chars: int, max_files: int, max_request_bytes: int, page_size: int) -> APIRouter:  # fmt: skip
    router = APIRouter()
    message_in = message_model(max_chars)
    message_body = {"required": True, "content": {
        "application/json": {"schema": message_in.model_json_schema()},
        "multipart/form-data": {"schema": multipart_schema(max_chars, max_files)},
    }}  # fmt: skip

    async def owned(conversation_id: str, who: ApiCaller) -> None:
        if len(conversation_id) > MAX_ID_CHARS or not await history.is_owner(conversation_id, who.identifier):
            raise ApiProblem(404, NOT_FOUND)

    @router.post("/conversations", status_code=201, response_model=Conversation,
                 responses=problem_responses(401, 503))  # fmt: skip
    async def create_conversation(who: ApiCaller = Depends(caller)) -> Conversation:
        """Start a conversation; it is the caller's, in the Chainlit page's history too."""
        conversation_id = str(uuid.uuid4())
        await history.update_thread(conversation_id, user_id=who.user_id)
        found = await history.get_thread(conversation_id) or {}
        return Conversation(id=conversation_id, name=found.get("name"), created_at=found.get("createdAt"))

    @router.get("/conversations", response_model=ConversationPage, responses=problem_responses(401, 422, 503))
    async def list_conversations(who: ApiCaller = Depends(caller),
                                 cursor: str | None = Query(None, max_length=MAX_ID_CHARS),
                                 limit: int = Query(page_size, ge=1, le=page_size)) -> ConversationPage:  # fmt: skip
        """The caller's conversations, newest first, from every channel."""
        page, more = await history.thread_page(first=limit, cursor=cursor, user_id=who.user_id)
        items = [Conversation(id=t["id"], name=t["name"], created_at=t["createdAt"]) for t in page]
        return ConversationPage(conversations=items, next_cursor=items[-1].id if more and items else None)

    @router.get("/conversations/{conversation_id}/messages", response_model=Transcript,
                responses=problem_responses(401, 404, 503))  # fmt: skip
    async def transcript(conversation_id: str, who: ApiCaller = Depends(caller)) -> Transcript:
        """What was said, oldest first: the customer's messages, the assistant's and a human colleague's."""
        await owned(conversation_id, who)
        thread = await history.get_thread(conversation_id) or {"steps": []}
        return Transcript(conversation_id=conversation_id, messages=[m for s in thread["steps"] if (m := _message(s))])

    @router.post("/conversations/{conversation_id}/messages", openapi_extra={"requestBody": message_body},
                 response_model=TurnResult, responses=TURN_RESPONSES)  # fmt: skip
    async def send(conversation_id: str, request: Request, who: ApiCaller = Depends(caller),
                   idempotency_key: str | None = Header(None, max_length=MAX_KEY_CHARS)) -> Response:  # fmt: skip
        """Send a message (JSON, or multipart with `files`); the reply as JSON, or with `Accept: text/event-stream`
        the turn's typed events as server-sent events. A retried request with the same `Idempotency-Key` gets the
        first result back, never a second turn."""
        await owned(conversation_id, who)
        text, files = await _message_in(request, message_in, max_chars, max_files, max_request_bytes)
        customer = Customer(conversation_id, who.identifier, who.name, role="customer")
        fingerprint = json.dumps(["message", conversation_id, text, [f.filename for f in files]])
        return await _answer(request, idempotency, who, idempotency_key, fingerprint, conversation_id,
                             lambda uploads: chat.send(customer, text, uploads), files)  # fmt: skip

    @router.post("/conversations/{conversation_id}/confirmations/{card}", response_model=TurnResult,
                 responses=TURN_RESPONSES)  # fmt: skip
    async def confirm(conversation_id: str, card: str, body: ConfirmationIn, request: Request,
                      who: ApiCaller = Depends(caller),
                      idempotency_key: str | None = Header(None, max_length=MAX_KEY_CHARS)) -> Response:
        """Confirm (`approve: true`) or cancel a previewed change, by the card's id from `confirmation_request`.
        Single-use and bound to the conversation's customer, like the page's buttons: a repeat gets the first
        answer."""
        await owned(conversation_id, who)
        token = await _card_token(chat, conversation_id, card)
        customer = Customer(conversation_id, who.identifier, who.name, role="customer")
        fingerprint = json.dumps(["confirm", conversation_id, card, body.approve])
        return await _answer(request, idempotency, who, idempotency_key, fingerprint, conversation_id,
                             lambda _uploads: chat.confirm(customer, token, body.approve), [])  # fmt: skip

    return router


def _message(step: dict[str, Any]) -> Message | None:
    role = ROLES.get(step.get("type") or "")
    if role is None or not (step.get("output") or "").strip():
        return None
    if role == "assistant" and (step.get("metadata") or {}).get(HUMAN):
        role = "human"
    return Message(id=step["id"], role=role, author=step.get("name") or "", text=step["output"],
                   created_at=step.get("createdAt"))  # fmt: skip


async def _message_in(request: Request, model: type[MessageIn], max_chars: int, max_files: int,
                      max_bytes: int) -> tuple[str, list[UploadFile]]:  # fmt: skip
    """The text and files of a message, checked as the schema says before anything is stored."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise ApiProblem(413, f"The request is too large: at most {max_bytes // 1_000_000} MB.")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            return model.model_validate(orjson.loads(await request.body())).text, []
        except orjson.JSONDecodeError:
            raise ApiProblem(422, "The body must be JSON: {\"text\": \"...\"}.") from None
        except ValidationError as exc:
            raise ApiProblem(422, _invalid(exc, max_chars)) from None
    if kind != "multipart/form-data":
        raise ApiProblem(415, UNSUPPORTED)
    try:
        form = await request.form(max_files=max_files, max_fields=MULTIPART_FIELDS)
    except (StarletteHTTPException, MultiPartException) as exc:  # malformed, or more files than a message carries
        raise ApiProblem(422, f"The form could not be read: {getattr(exc, 'detail', exc)}") from None
    unknown = set(form.keys()) - {"text", "files"}
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
    texts = [t for t in form.getlist("text") if isinstance(t, str)]
    if unknown or len(texts) > 1 or len(files) != len(form.getlist("files")):
        raise ApiProblem(422, "A message form has one `text` field and `files` (files only).")
    if texts:
        try:
            model.model_validate({"text": texts[0]})
        except ValidationError as exc:
            raise ApiProblem(422, _invalid(exc, max_chars)) from None
    if not texts and not files:
        raise ApiProblem(422, EMPTY)
    return (texts[0] if texts else ""), files


def _invalid(exc: ValidationError, max_chars: int) -> str:
    error = exc.errors()[0]
    if error["type"] == "string_too_long":
        return TOO_LONG.format(limit=max_chars)
    if error["type"] == "string_pattern_mismatch":
        return EMPTY
    where = ".".join(str(part) for part in error["loc"]) or "body"
    return f"{where}: {error['msg']}"


async def _card_token(chat: ChatService, conversation_id: str, card: str) -> str:
    conversation = await chat.conversations.load(conversation_id)
    for token in [*conversation.pending, *conversation.resolved]:
        if card_id(token) == card:
            return token
    raise ApiProblem(404, NO_CARD)


Run = Callable[[list[Upload]], AsyncIterator[AgentEvent]]


async def _answer(request: Request, idempotency: Idempotency, who: ApiCaller, key: str | None, fingerprint: str,
                  conversation_id: str, run: Run, files: list[UploadFile]) -> Response:  # fmt: skip
    streaming = EVENT_STREAM in request.headers.get("accept", "")
    if streaming:
        return StreamingResponse(_streamed(idempotency, who, key, fingerprint, conversation_id, run, files),
                                 media_type=EVENT_STREAM, headers={"Cache-Control": "no-store"})  # fmt: skip
    async with idempotency.claim(who.user_id, key, fingerprint) as claim:
        if claim is not None and claim.prior is not None:
            return _replayed(claim.prior)
        events = [event async for event in _events(run, files)]
        status, body = _outcome(conversation_id, events)
        if claim is not None:
            await claim.keep(status, body)
        return _replayed({"status_code": status, "body": body})


async def _streamed(idempotency: Idempotency, who: ApiCaller, key: str | None, fingerprint: str,
                    conversation_id: str, run: Run, files: list[UploadFile]) -> AsyncIterator[bytes]:  # fmt: skip
    async with idempotency.claim(who.user_id, key, fingerprint) as claim:
        if claim is not None and claim.prior is not None:
            for event in claim.prior["body"].get("events", []):
                yield _sse(event)
            return
        events: list[dict[str, Any]] = []
        async for event in _events(run, files):
            events.append(event)
            yield _sse(event)
        if claim is not None:
            await claim.keep(*_outcome(conversation_id, events))


async def _events(run: Run, files: list[UploadFile]) -> AsyncIterator[dict[str, Any]]:
    """The turn's events as dicts, with the files on disk for the chat service's checks, then removed."""
    folder = Path(tempfile.mkdtemp(prefix="api-upload-"))
    try:
        uploads = await asyncio.to_thread(_saved, files, folder)  # megabytes of copying: off the event loop
        async with aclosing(run(uploads)) as stream:
            async for event in stream:
                yield event_dict(event)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _saved(files: list[UploadFile], folder: Path) -> list[Upload]:
    """The files on disk under names of our own (the client's name is only shown), for the chat service."""
    uploads = []
    for n, file in enumerate(files):
        path = folder / f"{n}-{uuid.uuid4().hex}"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        uploads.append(Upload(Path(file.filename or "upload").name, path=path))
    return uploads


def _outcome(conversation_id: str, events: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """The status and body a turn answers with: its result, or the problem that refused it."""
    body = turn_result(conversation_id, events)
    done = events[-1] if events and events[-1]["type"] == "done" else {}
    refused = REFUSALS.get(done.get("reason") or "")
    if done.get("status") == "rejected" and refused is not None:
        status, kind = refused
        detail = body["reply"] or EMPTY
        problem_body = {"type": TYPE_BASE + kind, "title": HTTPStatus(status).phrase, "status": status,
                        "detail": detail, "retry_after_s": done.get("retry_after_s")}  # fmt: skip
        return status, problem_body
    return 200, body


def _replayed(stored: dict[str, Any]) -> Response:
    status, body = stored["status_code"], stored["body"]
    if status == 200:
        return JSONResponse(body)
    retry = body.get("retry_after_s")
    headers = {"Retry-After": str(int(retry))} if retry else None
    return problem(status, body["detail"], body["type"].rsplit("/", 1)[-1], headers)


def _sse(event: dict[str, Any]) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
