"""Build the knowledge base and the upload library from their settings groups (no app needed)."""

from __future__ import annotations

from knowledge.base import KnowledgeBase, RetrievalOptions
from knowledge.embedder import Embedder
from knowledge.glossary import Glossary
from knowledge.pipeline import ChunkingOptions
from knowledge.subqueries import subquery_options
from knowledge.settings import KnowledgeSettings, UploadSettings
from knowledge.uploads import UploadLibrary, UploadLimits
from knowledge.vectorstore import StoreBackend, VectorStore

MEGABYTE = 1024 * 1024


def build_embedder(cfg: KnowledgeSettings) -> Embedder:
    return Embedder(cfg.embedding_model_path, cfg.embedding_batch_size, cfg.embedding_cache_size,
                    cfg.embedding_threads, cfg.blas_threads, cfg.embedding_backend, cfg.embedding_onnx_dir,
                    cfg.embedding_batch_tokens, cfg.embedding_pass_padding, cfg.embedding_export_timeout_s)


def build_backend(cfg: KnowledgeSettings, embedder: Embedder | None = None) -> StoreBackend:
    from knowledge.chroma_store import ChromaBackend  # the vendor SDK stays in its adapter

    if not cfg.chroma_url:
        cfg.store_dir.mkdir(parents=True, exist_ok=True)
    return ChromaBackend(embedder or build_embedder(cfg), path=str(cfg.store_dir), url=cfg.chroma_url,
                         query_batch=1 if cfg.chroma_url else cfg.query_batch)  # a server takes queries side by side


def knowledge_base(cfg: KnowledgeSettings, store: VectorStore, embedder: Embedder,
                   sentences: bool = True, glossary: Glossary | None = None) -> KnowledgeBase:
    """`sentences=False` ranks by passages only: an upload's sentences are not worth embedding twice. `glossary`,
    when given, is used instead of reading KNOWLEDGE_GLOSSARY_PATH again."""
    chunking = ChunkingOptions(cfg.chunk_max_words, cfg.chunk_overlap_words, int(cfg.max_file_mb * MEGABYTE),
                               cfg.ingest_group_chunks)
    retrieval = RetrievalOptions(cfg.top_k, cfg.min_score, cfg.candidates, cfg.rrf_k, cfg.keyword_weight,
                                 cfg.duplicate_similarity, cfg.keyword_refresh_s, subquery_options(cfg),
                                 cfg.companion_min_score, cfg.heading_weight,
                                 cfg.sentence_weight if sentences else 0.0, cfg.sentence_index_max)
    return KnowledgeBase(store, embedder, chunking, retrieval, glossary or Glossary.load(cfg.glossary_path))


def build_knowledge(cfg: KnowledgeSettings, embedder: Embedder | None = None) -> KnowledgeBase:
    embedder = embedder or build_embedder(cfg)
    return knowledge_base(cfg, build_backend(cfg, embedder).open(cfg.collection), embedder)


def build_uploads(uploads: UploadSettings, cfg: KnowledgeSettings, backend: StoreBackend,
                  embedder: Embedder) -> UploadLibrary:
    limits = UploadLimits(uploads.max_files, int(uploads.max_size_mb * MEGABYTE), tuple(uploads.allowed_types),
                          uploads.ttl_s, uploads.top_k)
    glossary = Glossary.load(cfg.glossary_path)  # read once: a knowledge base is built per upload search
    return UploadLibrary(backend, lambda store: knowledge_base(cfg, store, embedder, False, glossary), limits)
