"""Wire the parts together from settings. The only place that picks implementations."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agent.chat.desk import HumanDesk
from agent.chat.facts_log import FactsLog, IntentTagger
from agent.chat.handovers import Handovers
from agent.chat.history import History
from agent.chat.priority import FirstWordsFirst
from agent.chat.service import ChatService
from agent.chat.tagging import EngineTagger, RouterTagger
from agent.offline.engine import DialogueEngine
from agent.offline.router import IntentRouter
from agent.models.base import ChatModel
from agent.runner.memory import ExtractiveSummarizer, LLMSummarizer
from agent.runner.orchestrator import SupportAgent
from agent.sessions.base import RateLimiter, SessionStore
from agent.sessions.conversations import ConversationRepository
from agent.sessions.memory import MemoryRateLimiter, MemorySessionStore
from agent.sessions.relay import MemoryRelay, Relay
from agent.settings import Settings
from knowledge.base import KnowledgeBase
from knowledge.embedder import Embedder
from knowledge.factory import build_backend, build_embedder, build_uploads, knowledge_base
from knowledge.uploads import UploadLibrary
from tools.catalog import store_tools
from tools.conversation import conversation_tools
from tools.knowledge import knowledge_tools
from tools.registry import ToolRegistry
from tools.store.accounts import AccountDirectory
from tools.store.db import StoreDatabase

log = logging.getLogger(__name__)


@dataclass
class Services:
    chat: ChatService
    agent: SupportAgent
    knowledge: KnowledgeBase
    registry: ToolRegistry
    uploads: UploadLibrary
    login_limiter: RateLimiter
    store: StoreDatabase
    relay: Relay
    sessions: SessionStore
    desk: HumanDesk | None = None  # live hand-overs, when the history can keep them

    async def aclose(self) -> None:
        """Release what outlives a request, on shutdown: the relay's subscription, the session store's, the
        shop's and the model server's connections. One that fails to close is logged; the others still close."""
        closers = [("relay", self.relay.close), ("sessions", self.sessions.close),
                   ("shop database", self.store.dispose)]
        if (close_model := getattr(self.agent.model, "aclose", None)) is not None:  # a model server's connections
            closers.append(("model's connections", close_model))
        for name, close in closers:
            try:
                await close()
            except Exception:
                log.warning("could not close the %s on shutdown", name, exc_info=True)


def build_model(settings: Settings, embedder: Embedder) -> ChatModel:
    if settings.llm.configured:
        from agent.models.openai_compat import OpenAIChatModel

        log.info("using OpenAI-compatible model %s at %s", settings.llm.model, settings.llm.base_url or "api.openai.com")
        return OpenAIChatModel(settings.llm)
    log.info("no LLM_MODEL set: using the offline dialogue engine")
    return DialogueEngine.from_settings(embedder, settings)


def build_sessions(settings: Settings) -> tuple[SessionStore, RateLimiter, RateLimiter, Relay]:
    """The session store, the per-user message limiter, the per-IP sign-in limiter and the hand-over relay."""
    cfg, auth = settings.sessions, settings.auth
    if not cfg.redis_url:
        return (MemorySessionStore(cfg.ttl_s, cfg.lock_wait_s),
                MemoryRateLimiter(cfg.rate_limit_per_minute, cfg.rate_limit_burst),
                MemoryRateLimiter(auth.login_attempts_per_minute, auth.login_burst), MemoryRelay())
    from agent.sessions.redis_relay import RedisRelay
    from agent.sessions.redis_store import RedisRateLimiter, RedisSessionStore, connect, fernet

    client = connect(cfg.redis_url)
    store = RedisSessionStore(
        client, prefix=cfg.key_prefix, ttl_s=cfg.ttl_s,
        crypto=fernet([k.get_secret_value() for k in cfg.encryption_keys]),
        l1_size=cfg.l1_cache_size, l1_ttl_s=cfg.l1_cache_ttl_s, cas_retries=cfg.cas_retries,
        lock_ttl_s=cfg.lock_ttl_s, lock_wait_s=cfg.lock_wait_s,
    )
    messages = RedisRateLimiter(client, prefix=cfg.key_prefix, per_minute=cfg.rate_limit_per_minute,
                                burst=cfg.rate_limit_burst)
    logins = RedisRateLimiter(client, prefix=cfg.key_prefix, per_minute=auth.login_attempts_per_minute,
                              burst=auth.login_burst)
    return store, messages, logins, RedisRelay(client, prefix=cfg.key_prefix)


def build_conversations(settings: Settings, store: SessionStore, model: ChatModel,
                        history: History | None = None) -> ConversationRepository:
    cfg = settings.sessions
    extractive = ExtractiveSummarizer(cfg.summary_max_sentences)
    summarizer = LLMSummarizer(model, extractive) if settings.llm.configured else extractive
    return ConversationRepository(store, summarizer, max_messages=cfg.memory_max_messages,
                                  max_tokens=cfg.memory_max_tokens,
                                  history=history.conversation_messages if history else None,
                                  new_chats=cfg.new_chats_kept, new_chat_ttl_s=cfg.new_chat_ttl_s)


def build_tagger(settings: Settings, embedder: Embedder, model: ChatModel) -> IntentTagger:
    """The facts' intent tagger: the offline engine's router when it answers, else one built for the tagger."""
    if isinstance(model, DialogueEngine):
        return EngineTagger(model.route, model.router.recent)  # its embeddings, cache and lock: embedded once
    return RouterTagger.building(lambda: IntentRouter.from_settings(embedder, settings.offline))


def build_registry(settings: Settings, knowledge: KnowledgeBase, store: StoreDatabase) -> ToolRegistry:
    tools = [*knowledge_tools(knowledge), *store_tools(store, settings), *conversation_tools()]
    return ToolRegistry.from_settings(tools, settings.tools)


def build_services(settings: Settings, *, sync_docs: bool = True, history: History | None = None,
                   facts: FactsLog | None = None, handovers: Handovers | None = None) -> Services:
    """Everything the app runs on; `history` is where the chat service writes every message, `facts` where it
    keeps each conversation's facts, `handovers` who holds a conversation (all three the data layer)."""
    cfg = settings.knowledge
    embedder = build_embedder(cfg)
    backend = build_backend(cfg, embedder)
    knowledge = knowledge_base(cfg, backend.open(cfg.collection), embedder)
    if sync_docs:
        knowledge.ingest([cfg.docs_dir])
    uploads = build_uploads(settings.uploads, cfg, backend, embedder)
    shop = StoreDatabase.from_settings(settings)
    registry = build_registry(settings, knowledge, shop)
    model = build_model(settings, embedder)
    agent = SupportAgent(model, registry, knowledge, settings, uploads=uploads, accounts=AccountDirectory(shop).customer_for)
    store, limiter, login_limiter, relay = build_sessions(settings)
    conversations = build_conversations(settings, store, model, history)
    tagger = build_tagger(settings, embedder, model) if facts is not None else None
    desk = None
    if handovers is not None and history is not None:
        desk = HumanDesk(handovers, history, relay, limiter, store_name=settings.app.store_name,
                         assistant_name=settings.app.assistant_name, max_chars=settings.chat.max_message_chars,
                         catch_up=conversations.catch_up, lock=store.lock)
    first_words = FirstWordsFirst(settings.chat.first_words_crowd, settings.chat.first_words_max_wait_s,
                                  settings.chat.first_words_busy_s)
    chat = ChatService(agent, conversations, limiter, uploads, history, assistant_name=settings.app.assistant_name,
                       facts=facts, tagger=tagger, desk=desk, first_words=first_words)
    return Services(chat, agent, knowledge, registry, uploads, login_limiter, shop, relay, store, desk)
