"""Every error the API answers is RFC 9457 problem details with a stable `type`; never a stack trace."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.web.api.schemas import PROBLEM_JSON

log = logging.getLogger(__name__)
TYPE_BASE = "/api/v1/problems/"  # a relative URI reference: stable, and documented in the README
# The problem types, by the status they come with unless a route says otherwise.
TYPES = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 409: "conflict",
         413: "too-large", 415: "unsupported-media-type", 422: "invalid-request", 429: "rate-limited",
         503: "unavailable", 500: "internal"}  # fmt: skip


class ApiProblem(HTTPException):
    """An error a route raises on purpose: its status, a kind (the `type`'s last segment) and a sentence."""

    def __init__(self, status: int, detail: str, kind: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.kind = kind or TYPES.get(status, "error")


def problem(status: int, detail: str, kind: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"type": TYPE_BASE + (kind or TYPES.get(status, "error")), "title": HTTPStatus(status).phrase,
            "status": status, "detail": detail}  # fmt: skip
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), exc.kind, exc.headers)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's and Starlette's own (unknown path, bad form)
    async def http_problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
        return problem(422, f"{where or 'request'}: {first.get('msg', 'invalid')}".strip())

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("API request %s %s failed", request.method, request.url.path)
        return problem(500, "Something went wrong on our side. Please try again in a moment.")
