"""Wire the parts together from settings. The only place that picks implementations."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agent.offline.engine import DialogueEngine
from agent.models.base import ChatModel
from agent.runner.memory import ExtractiveSummarizer, LLMSummarizer
from agent.runner.orchestrator import SupportAgent
from agent.sessions.base import RateLimiter, SessionStore
from agent.sessions.conversations import ConversationRepository, History
from agent.sessions.memory import MemoryRateLimiter, MemorySessionStore
from agent.settings import Settings
from knowledge.base import KnowledgeBase, RetrievalOptions
from knowledge.embedder import Embedder
from knowledge.pipeline import ChunkingOptions
from knowledge.uploads import UploadLibrary, UploadLimits
from knowledge.vectorstore import StoreBackend, VectorStore
from tools.catalog import store_tools
from tools.knowledge import knowledge_tools
from tools.registry import ToolRegistry
from tools.store.accounts import AccountDirectory
from tools.store.db import StoreDatabase

log = logging.getLogger(__name__)


@dataclass
class Services:
    agent: SupportAgent
    knowledge: KnowledgeBase
    registry: ToolRegistry
    uploads: UploadLibrary
    conversations: ConversationRepository
    limiter: RateLimiter
    login_limiter: RateLimiter
    store: StoreDatabase


def build_backend(settings: Settings, embedder: Embedder | None = None) -> StoreBackend:
    from knowledge.chroma_store import ChromaBackend  # the vendor SDK stays in its adapter

    cfg = settings.knowledge
    embedder = embedder or Embedder(cfg.embedding_model_path, cfg.embedding_batch_size)
    if not cfg.chroma_url:
        cfg.store_dir.mkdir(parents=True, exist_ok=True)
    return ChromaBackend(embedder, path=str(cfg.store_dir), url=cfg.chroma_url)


def knowledge_base(settings: Settings, store: VectorStore, embedder: Embedder) -> KnowledgeBase:
    cfg = settings.knowledge
    chunking = ChunkingOptions(cfg.chunk_max_words, cfg.chunk_overlap_words, int(cfg.max_file_mb * 1024 * 1024),
                               cfg.ingest_group_chunks)
    retrieval = RetrievalOptions(cfg.top_k, cfg.min_score, cfg.candidates, cfg.rrf_k, cfg.keyword_weight,
                                 cfg.duplicate_similarity, cfg.keyword_refresh_s)
    return KnowledgeBase(store, embedder, chunking, retrieval)


def build_knowledge(settings: Settings, embedder: Embedder | None = None) -> KnowledgeBase:
    cfg = settings.knowledge
    embedder = embedder or Embedder(cfg.embedding_model_path, cfg.embedding_batch_size)
    backend = build_backend(settings, embedder)
    return knowledge_base(settings, backend.open(cfg.collection), embedder)


def build_model(settings: Settings, embedder: Embedder) -> ChatModel:
    if settings.llm.configured:
        from agent.models.openai_compat import OpenAIChatModel

        log.info("using OpenAI-compatible model %s at %s", settings.llm.model, settings.llm.base_url or "api.openai.com")
        return OpenAIChatModel(settings.llm)
    log.info("no LLM_MODEL set: using the offline dialogue engine")
    return DialogueEngine.from_settings(embedder, settings)


def build_uploads(settings: Settings, backend: StoreBackend, embedder: Embedder) -> UploadLibrary:
    cfg = settings.uploads
    limits = UploadLimits(cfg.max_files, int(cfg.max_size_mb * 1024 * 1024), tuple(cfg.allowed_types), cfg.ttl_s, cfg.top_k)
    return UploadLibrary(backend, lambda store: knowledge_base(settings, store, embedder), limits)


def build_sessions(settings: Settings) -> tuple[SessionStore, RateLimiter, RateLimiter]:
    """The session store, the per-user message limiter and the per-IP sign-in limiter."""
    cfg, auth = settings.sessions, settings.auth
    if not cfg.redis_url:
        return (MemorySessionStore(cfg.ttl_s, cfg.lock_wait_s),
                MemoryRateLimiter(cfg.rate_limit_per_minute, cfg.rate_limit_burst),
                MemoryRateLimiter(auth.login_attempts_per_minute, auth.login_burst))
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
    return store, messages, logins


def build_conversations(settings: Settings, store: SessionStore, model: ChatModel,
                        history: History | None = None) -> ConversationRepository:
    cfg = settings.sessions
    extractive = ExtractiveSummarizer(cfg.summary_max_sentences)
    summarizer = LLMSummarizer(model, extractive) if settings.llm.configured else extractive
    return ConversationRepository(store, summarizer, max_messages=cfg.memory_max_messages,
                                  max_tokens=cfg.memory_max_tokens, history=history)


ESCALATION_TOOLS = frozenset({"transfer_to_human_agents"})


def build_registry(settings: Settings, knowledge: KnowledgeBase, store: StoreDatabase) -> ToolRegistry:
    return ToolRegistry.from_settings([*knowledge_tools(knowledge), *store_tools(store, settings)], settings.tools)


def build_services(settings: Settings, *, sync_docs: bool = True, history: History | None = None) -> Services:
    cfg = settings.knowledge
    embedder = Embedder(cfg.embedding_model_path, cfg.embedding_batch_size)
    backend = build_backend(settings, embedder)
    knowledge = knowledge_base(settings, backend.open(cfg.collection), embedder)
    if sync_docs:
        knowledge.ingest([cfg.docs_dir])
    uploads = build_uploads(settings, backend, embedder)
    shop = StoreDatabase.from_settings(settings)
    registry = build_registry(settings, knowledge, shop)
    model = build_model(settings, embedder)
    agent = SupportAgent(model, registry, knowledge, settings, escalation_tools=ESCALATION_TOOLS, uploads=uploads,
                         accounts=AccountDirectory(shop).customer_for)
    store, limiter, login_limiter = build_sessions(settings)
    conversations = build_conversations(settings, store, model, history)
    return Services(agent, knowledge, registry, uploads, conversations, limiter, login_limiter, shop)
