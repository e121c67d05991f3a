"""Chainlit hooks only. Everything they call is plain Python under agent/, tools/ and knowledge/."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

import chainlit as cl
from chainlit.server import app as server
from chainlit.config import config as chainlit_config
from chainlit.server import SOCKET_IO_PATH, sio
from chainlit.session import WebsocketSession
from chainlit.types import ThreadDict

from agent.web.auth import (LoginThrottle, auth_secret, ensure_demo_users, is_staff, trust_forwarded_headers,
                            widget_customer)
from agent.datalayer import migrate
from agent.demo import seed_demo_conversations
from agent.datalayer.history import StoreHistory
from agent.web.datalayer import SQLDataLayer, persisted_user
from agent.factory import build_services
from agent.logs import configure_logging, route_to_root
from agent.collector import settle_heap
from agent.malloc_arenas import limit_malloc_arenas
from agent import metrics
from agent.metrics import watch_circuits
from agent.readiness import readiness
from agent.settings import get_settings
from agent.users import verify
from agent.web import limits, routes, widget, workspace
from agent.web.api import PREFIX, api_app
from agent.web.avatars import avatar_routes
from agent.web.chainlit_clock import no_pause
from agent.web.chat_page import serve_locally
from agent.web.customer_panel import CustomerPanel
from agent.web.live import LiveParts
from agent.web.live_chat import LiveFeeds
from agent.web.observability import OpenSessions, RequestIdMiddleware, drain_on_sigterm
from agent.web.origins import SocketOrigins
from agent.web.handlers import handle_action, handle_choice, handle_message
from agent.web.render import CHOICE_ACTION, CONFIRM_ACTION, DECLINE_ACTION
from tools.store.migrate import migrate_store
from tools.store.seed import ensure_seeded

settings = get_settings()
configure_logging(settings.app.log_level, settings.observability.log_format)
limit_malloc_arenas(settings.app.malloc_arenas)  # before build_services starts the worker threads
trust_forwarded_headers(settings)  # before `chainlit run` builds uvicorn's config, which reads it
log = logging.getLogger("app")
history = SQLDataLayer.from_settings(
    settings.database, on_thread_deleted=lambda thread_id: asyncio.to_thread(services.uploads.delete, thread_id)
)
services = build_services(settings, history=StoreHistory(history), facts=history, handovers=history)

WELCOME = (
    f"**Hi, I'm the {settings.app.store_name} assistant.** I can answer questions about shipping, "
    "returns, refunds, payments, warranty and your account, and I tell you where each answer comes from. "
    "You can also attach an invoice, a receipt or a manual (PDF, Word, text) and ask me about it."
)
STAFF_WELCOME = (
    "\n\n**You're signed in as support staff.** Review every conversation, work the escalation queue and read "
    "the numbers in the [support workspace](/workspace/conversations)."
)
STARTERS = [
    ("Where is my order?", "How can I track my order?"),
    ("How do returns work?", "How long do I have to return an item?"),
    ("Shipping times", "How long does standard shipping take?"),
    ("Cancel an order", "Can I cancel my order?"),
]


@cl.data_layer
def data_layer() -> SQLDataLayer:
    return history


attachments = limits.AttachmentWindow(settings.uploads.max_files)
routes.install(server, routes.upload_routes(attachments))
limits.guard_messages(sio, attachments, max_chars=settings.chat.max_message_chars, max_files=settings.uploads.max_files,
                      max_socket_bytes=int(settings.chat.max_socket_mb * limits.MEGABYTE),
                      author=settings.app.assistant_name)
routes.install(server, routes.routes(history, services.registry.health,
                                     readiness(settings, history.engine, services.agent.model),
                                     settings.observability.metrics_token.get_secret_value()))
server.add_middleware(RequestIdMiddleware)
watch_circuits(services.registry.health)
open_sessions = OpenSessions()
live = (LiveParts(services.desk, services.relay, CustomerPanel(services.registry), settings.chat.live_heartbeat_s,
                  stopping=lambda: services.chat.draining) if services.desk is not None else None)
routes.install(server, workspace.workspace_routes(history, settings.auth.enabled, analytics=settings.analytics,
                                                  embedder=services.knowledge.embedder, tickets=services.store,
                                                  live=live))
if settings.api.enabled:
    routes.mount(server, PREFIX, api_app(services, history, settings))
routes.install(server, avatar_routes({"default", settings.app.assistant_name, chainlit_config.ui.name}))
routes.install(server, widget.widget_routes(settings, history))  # the shop's widget signs in by /auth/jwt
widget.allow_shop_origin(settings)
serve_locally()  # the customer's page loads nothing from a CDN
no_pause()  # Chainlit's messages and steps no longer block the event loop for 1 ms each
# config.toml's origins, read on every request: the widget's shop was added to this very list just above.
server.add_middleware(SocketOrigins, path=SOCKET_IO_PATH, allowed=lambda: chainlit_config.project.allow_origins)
feeds = LiveFeeds(services.relay, sio)  # a human's messages, shown in the customer's open chat
feeds.follow_reconnects()


if settings.auth.enabled:
    os.environ.setdefault("CHAINLIT_AUTH_SECRET", auth_secret(settings))
    server.add_middleware(LoginThrottle, limiter=services.login_limiter)

    @cl.password_auth_callback
    async def password_auth(username: str, password: str) -> cl.User | None:
        user = await verify(history, username, password)
        return persisted_user(user) if user else None


if settings.auth.enabled and settings.auth.widget_secret.get_secret_value():

    @cl.header_auth_callback
    async def widget_auth(headers) -> cl.User | None:
        # None for a bad token, and for one naming a staff account (Chainlit would sign in as that account).
        customer = await widget_customer(headers.get(settings.auth.widget_header, ""), settings, history)
        return widget.widget_user(customer) if customer is not None else None


@cl.on_shared_thread_view
async def on_shared_thread_view(thread: ThreadDict, viewer: cl.User | None) -> bool:
    # Staff (lead or admin in the users table, read now) may open any transcript. For anyone else Chainlit
    # falls back on `is_shared`; agent/web/routes.py lets only the author and staff reach its share route.
    return await is_staff(history, viewer.identifier if viewer else None)


# Chainlit computes each new socket session's config by running `set_chat_profiles` in a nested event loop
# (run_until_complete under nest_asyncio) while the socket connects. With many chats connecting at once the
# nested loops recurse into each other until RecursionError, and most connections fail. Our profile overrides
# no setting, so every session's config is the global one: computed without running the loop again.
WebsocketSession.get_config = lambda self: chainlit_config  # type: ignore[method-assign]


@cl.set_chat_profiles
async def chat_profiles(user: cl.User | None = None, language: str | None = None) -> list[cl.ChatProfile]:
    # A single profile is Chainlit's way to show a welcome text above the starters. Staff (role read from the
    # database now, not from the sign-in token) also get the way to their workspace.
    staff = user is not None and await is_staff(history, user.identifier)
    return [
        cl.ChatProfile(
            name="Support",
            markdown_description=WELCOME + (STAFF_WELCOME if staff else ""),
            icon="/public/avatar.svg",
            default=True,
            starters=[cl.Starter(label=label, message=message) for label, message in STARTERS],
        )
    ]


@cl.on_app_startup
async def on_app_startup() -> None:
    route_to_root("uvicorn", "uvicorn.error", "uvicorn.access")  # configured by uvicorn after app.py was imported
    drain_on_sigterm(services.chat, settings.observability.shutdown_grace_s)  # uvicorn's handlers are in place now
    await migrate(settings.database.url, settings.database.schema_name)
    await migrate_store(*settings.store_database)
    if settings.store.seed_on_start:
        await ensure_seeded(services.store, settings)
    if settings.auth.enabled and settings.auth.demo_users:
        await ensure_demo_users(settings)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(settings.chat.worker_threads, thread_name_prefix="worker"))
    loop.create_task(expire_uploads())
    loop.create_task(warm_knowledge())
    if settings.auth.demo_conversations and not settings.llm.configured:  # never spend a paid model on demo data
        loop.create_task(seed_demo())


@cl.on_app_shutdown
async def on_app_shutdown() -> None:
    await services.aclose()
    await history.close()


async def warm_knowledge() -> None:
    # The help centre's search indexes (every sentence embedded) are built now, not at the first question.
    started = time.monotonic()
    try:
        await asyncio.to_thread(services.knowledge.warm)
    except Exception:
        log.exception("could not build the help centre's search indexes; the first question will")
        return
    finally:
        settle_heap(settings.app.gc_young_threshold)  # warm or not, the start-up objects are in place
    took = time.monotonic() - started
    metrics.KNOWLEDGE_WARM_SECONDS.set(took)  # bench/bench_load.py waits for it: warming costs CPU
    log.info("built the help centre's search indexes in %.1f s", took)


async def seed_demo() -> None:
    # In the background: the chat is usable at once; a lead reloading the workspace sees the list fill.
    try:
        await seed_demo_conversations(services.chat, history, services.store)
    except Exception:
        log.exception("could not seed the demo conversations")


async def expire_uploads() -> None:
    while True:
        try:
            await asyncio.to_thread(services.uploads.expire)
        except Exception:
            log.exception("could not expire old uploads")
        await asyncio.sleep(settings.uploads.expiry_check_s)


@cl.on_chat_start
async def on_chat_start() -> None:
    open_sessions.seen(cl.context.session.id)
    await feeds.follow()
    # A thread id the page sent (a resume that fell through) may have a history; one Chainlit made has none.
    if cl.context.session.thread_id_to_resume is None:
        services.chat.started(cl.context.session.thread_id)
    log.info("conversation %s started", cl.context.session.thread_id)


@cl.on_chat_resume
async def on_chat_resume(thread: ThreadDict) -> None:
    # Memory is loaded (or rebuilt from this history) by the next message, under the lock, so
    # opening a thread never waits behind a turn running on another instance.
    open_sessions.seen(cl.context.session.id)
    await feeds.follow()
    log.info("conversation %s resumed", thread["id"])


@cl.on_message
async def on_message(message: cl.Message) -> None:
    open_sessions.seen(cl.context.session.id)  # a reconnected session runs no start hook
    await feeds.follow()  # the thread may be new since the chat started (Chainlit's "new chat")
    await handle_message(message, services.chat, cl.context.session.thread_id, cl.user_session.get("user"),
                         settings.chat.stream_interval_s)


@cl.action_callback(CONFIRM_ACTION)
@cl.action_callback(DECLINE_ACTION)
async def on_action(action: cl.Action) -> None:
    await handle_action(action, services.chat, cl.context.session.thread_id, cl.user_session.get("user"),
                        settings.chat.stream_interval_s)


@cl.action_callback(CHOICE_ACTION)
async def on_choice(action: cl.Action) -> None:
    await handle_choice(action, services.chat, cl.context.session.thread_id, cl.user_session.get("user"),
                        settings.chat.stream_interval_s)


@cl.on_stop
async def on_stop() -> None:
    # Chainlit cancels the running turn itself; the agent keeps the partial reply, marked as stopped.
    log.info("turn stopped by the customer in conversation %s", cl.context.session.thread_id)


@cl.on_chat_end
async def on_chat_end() -> None:
    # Fires on every disconnect, not only at the end: state stays for a reconnect or resume.
    open_sessions.gone(cl.context.session.id)
    feeds.stop(cl.context.session.id)
    log.info("conversation %s disconnected", cl.context.session.thread_id)
