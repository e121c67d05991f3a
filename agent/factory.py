"""Wire the parts together from settings. The only place that picks implementations."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agent.llm.base import ChatModel
from agent.llm.offline import OfflineAnswerEngine
from agent.orchestrator import SupportAgent
from agent.settings import Settings
from knowledge.base import KnowledgeBase
from knowledge.embedder import Embedder
from tools.knowledge import knowledge_tools
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)


@dataclass
class Services:
    agent: SupportAgent
    knowledge: KnowledgeBase
    registry: ToolRegistry


def build_knowledge(settings: Settings, embedder: Embedder | None = None) -> KnowledgeBase:
    from knowledge.chroma_store import ChromaStore  # the vendor SDK stays in its adapter

    cfg = settings.knowledge
    embedder = embedder or Embedder(cfg.embedding_model_path, cfg.embedding_batch_size)
    cfg.store_dir.mkdir(parents=True, exist_ok=True)
    store = ChromaStore.persistent(str(cfg.store_dir), cfg.collection, embedder)
    return KnowledgeBase(store, embedder, chunk_max_words=cfg.chunk_max_words, top_k=cfg.top_k, min_score=cfg.min_score)


def build_model(settings: Settings, embedder: Embedder) -> ChatModel:
    if settings.llm.configured:
        from agent.llm.openai_compat import OpenAIChatModel

        log.info("using OpenAI-compatible model %s at %s", settings.llm.model, settings.llm.base_url or "api.openai.com")
        return OpenAIChatModel(settings.llm)
    log.info("no LLM_MODEL set: using the offline answer engine")
    return OfflineAnswerEngine(embedder, settings.offline, settings.app)


def build_services(settings: Settings, *, sync_docs: bool = True) -> Services:
    knowledge = build_knowledge(settings)
    if sync_docs:
        knowledge.sync(settings.knowledge.docs_dir)
    registry = ToolRegistry.from_settings(knowledge_tools(knowledge), settings.tools)
    agent = SupportAgent(build_model(settings, knowledge.embedder), registry, knowledge, settings)
    return Services(agent, knowledge, registry)
