"""The HTTP API, a FastAPI application mounted at /api/v1 beside the Chainlit page (see routes.py)."""

from __future__ import annotations

from fastapi import FastAPI

from agent.datalayer.store import ChatStore
from agent.factory import Services
from agent.settings import Settings
from agent.web.api.auth import caller_dependency
from agent.web.api.idempotency import Idempotency
from agent.web.api.problems import install_handlers
from agent.web.api.routes import api_routes
from agent.chat.intake import MEGABYTE

PREFIX = "/api/v1"


def api_app(services: Services, history: ChatStore, settings: Settings) -> FastAPI:
    """The API as its own application (its own OpenAPI schema at /api/v1/openapi.json, its own error handlers)."""
    app = FastAPI(title=f"{settings.app.store_name} support API", version="1", openapi_url="/openapi.json",
                  docs_url=None, redoc_url=None,
                  description="Conversations with the support assistant, for a shop's own pages and servers.")  # fmt: skip
    install_handlers(app)
    uploads = settings.uploads
    app.include_router(api_routes(
        services.chat, history, caller_dependency(settings, history), Idempotency(services.chat.conversations.store),
        max_chars=settings.chat.max_message_chars, max_files=uploads.max_files,
        max_request_bytes=int(uploads.max_files * uploads.max_size_mb * MEGABYTE + settings.api.form_overhead_bytes),
        page_size=settings.api.page_size,
    ))  # fmt: skip
    return app
