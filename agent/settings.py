"""All tunable knobs, grouped by area, read from the environment and `.env`.

Each group is its own settings class with an env prefix, so `LLM_MODEL` maps to
`Settings().llm.model`. `python -m agent.settings env` prints `.env.example` and
`python -m agent.settings markdown` prints the README's configuration table;
tests keep both in sync with this file.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from knowledge.settings import PROJECT_ROOT, KnowledgeSettings, UploadSettings, empty_as_none, split_csv
from knowledge.settings import settings_group as _group
from tools.settings import AppSettings, DatabaseSettings, StoreSettings, ToolSettings, store_database


class LLMSettings(BaseSettings):
    """OpenAI-compatible model server. Leave LLM_MODEL empty for the offline engine."""

    model_config = _group("LLM_")

    model: str = Field("", description="Model name; empty selects the offline dialogue engine")
    base_url: str = Field(
        "", description="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1; empty = OpenAI"
    )
    api_key: SecretStr = Field(
        SecretStr(""), description="API key; local servers (vLLM, Ollama) accept any value"
    )
    timeout_s: float = Field(30.0, gt=0, description="Per-request timeout in seconds")
    max_retries: int = Field(3, ge=0, description="Retries on 429, 5xx, timeouts and connection errors")
    retry_backoff_s: float = Field(0.5, ge=0, description="First retry delay; doubles per attempt, jittered")
    max_retry_after_s: float = Field(
        20.0, ge=0, description="Longest wait a 429/503's Retry-After header gets before the retry"
    )
    max_connections: int = Field(
        1000, gt=0, description="Connections to the model server at most (pooled, kept alive); a request waits "
        "for a free one within LLM_TIMEOUT_S"
    )
    keepalive_s: float = Field(
        4.0, gt=0, description="How long an idle connection stays pooled: under the server's own keep-alive "
        "(uvicorn's, vLLM's: 5 s), or a request may meet a connection the server just closed"
    )
    temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature")
    max_output_tokens: int = Field(800, gt=0, description="Upper bound on tokens per reply")

    @property
    def configured(self) -> bool:
        return bool(self.model.strip())


class OfflineSettings(BaseSettings):
    """The extractive answer engine used when no LLM is configured."""

    model_config = _group("OFFLINE_")

    max_sentences: int = Field(3, gt=0, description="Sentences quoted in an answer")
    min_sentence_score: float = Field(
        0.42, ge=-1, le=1, description="Similarity the best sentence needs, or the engine says it doesn't know"
    )
    sentence_margin: float = Field(
        0.15, ge=0, le=2, description="Quote only sentences this close to the best one's score"
    )
    duplicate_similarity: float = Field(
        0.9, ge=-1, le=1, description="Sentences this similar to one already quoted are skipped as repeats"
    )
    specifics_weight: float = Field(
        0.3, ge=0, le=2,
        description="Weight of the share of the question's (rarity-weighted) content words a sentence names, "
        "added to its similarity",
    )
    answer_kind_weight: float = Field(
        0.1, ge=0, le=1,
        description="Added to a sentence of the kind the question asks for: a rule or exception (only, unless, "
        "must, not...) when it asks whether something is allowed, a figure when it asks how long or how much",
    )
    condition_sentences: int = Field(
        1, ge=0,
        description="Extra sentences quoted beside the chosen ones: the passage's condition on them, "
        "a case the question names",
    )
    neighbour_sentences: int = Field(
        1, ge=0,
        description="Sentences quoted on each side of the best one, from its passage, when they name something "
        "the question asks about: the case it is about, its exception",
    )
    first_passage_sentences: int = Field(
        5, ge=0,
        description="More sentences quoted from the passage that matches the whole question best, when they name "
        "something the question asks about: that section holds the rule and its conditions",
    )
    confident_score: float = Field(
        0.5, ge=-1, le=1,
        description="Below this similarity an answer opens with \"I don't know that for sure\" and names the "
        "section it quotes",
    )
    stream_words: int = Field(
        8, gt=0, description="Words per streamed piece of an answer: the engine's answer is whole at once, and each "
        "piece crosses the orchestrator, the chat service and the page's stream (which shows pieces at most every "
        "CHAT_STREAM_INTERVAL_S anyway)"
    )
    intent_threshold: float = Field(
        0.55, ge=0, le=1,
        description="Probability the likeliest store intent needs, or the message is out of scope (chosen on dev data)",
    )
    intent_in_scope_threshold: float = Field(
        0.93, ge=0, le=1,
        description="A message torn between two of the shop's requests whose probability of being the shop's "
        "(1 - out of scope) reaches this goes to the likelier one even under OFFLINE_INTENT_THRESHOLD (1 = never)",
    )
    intent_understood_threshold: float = Field(
        0.90, ge=0, le=1,
        description="A message the classifier gives one of the shop's intents this probability is understood even "
        "below OFFLINE_INTENT_MIN_SIMILARITY (1 = never; chosen on dev data)",
    )
    intent_min_similarity: float = Field(
        0.40, ge=-1, le=1,
        description="Similarity to the nearest examples below which a message is not understood at all",
    )
    intent_regularization: float = Field(
        30.0, gt=0, description="Inverse regularisation (C) of the intent classifier; larger fits the examples closer"
    )
    intent_lexical_weight: float = Field(
        1.0, ge=0, description="Weight of the message's words (TF-IDF) beside its meaning (MiniLM) in the classifier"
    )
    intent_top_k: int = Field(3, gt=0, description="Nearest examples per intent averaged into its similarity")
    routing_cache_size: int = Field(
        4096, ge=0, description="Messages whose routing is kept, so a text routed twice (the reply, then the "
        "intent tag of the analytics) is classified once; 0 = none"
    )
    router_cache_dir: Path | None = Field(
        PROJECT_ROOT / ".data" / "cache", description="Where the trained intent classifier is kept between starts, "
        "under a hash of its examples, options and model (a pickle: keep it the app's own); empty = train every start"
    )

    _no_cache = field_validator("router_cache_dir", mode="before")(empty_as_none)


class SessionSettings(BaseSettings):
    """Per-conversation state shared by every instance: memory, flow state, locks and rate limits."""

    model_config = _group("SESSION_")

    redis_url: str = Field("", description="Redis URL, e.g. redis://localhost:6379/0; empty = in-process memory")
    key_prefix: str = Field("support:", description="Prefix of every Redis key this app writes")
    ttl_s: float = Field(7 * 24 * 3600.0, gt=0, description="Session state expires this long after its last use")
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated Fernet keys, newest first; empty = a per-process key (state lost on restart)",
    )
    l1_cache_size: int = Field(1024, gt=0, description="Sessions cached in process (validated against Redis)")
    l1_cache_ttl_s: float = Field(30.0, gt=0, description="Longest a cached session is kept without use")
    cas_retries: int = Field(20, gt=0, description="Attempts of an update that keeps losing a write race")
    lock_ttl_s: float = Field(30.0, gt=0, description="A turn's lock expires unless extended (holder crashed)")
    lock_wait_s: float = Field(60.0, gt=0, description="How long a message waits for the previous turn")
    new_chats_kept: int = Field(
        10000, ge=0, description="Chats opened lately on this instance whose first message skips the history lookup "
        "(an id Chainlit has just made has no history); 0 = always look"
    )
    new_chat_ttl_s: float = Field(600.0, gt=0, description="How long an opened chat counts as new without a message")
    memory_max_messages: int = Field(20, gt=0, description="Past messages sent to the model each turn")
    memory_max_tokens: int = Field(2000, gt=0, description="Token budget of the recent-message window")
    summary_max_sentences: int = Field(6, gt=0, description="Sentences kept in the rolling summary of older turns")
    rate_limit_per_minute: float = Field(20.0, gt=0, description="Messages a user may send per minute (burst allowed)")
    rate_limit_burst: int = Field(8, gt=0, description="Messages a user may send at once before being slowed")

    _split_keys = field_validator("encryption_keys", mode="before")(split_csv)


class ChatSettings(BaseSettings):
    """Limits on a chat turn."""

    model_config = _group("CHAT_")

    max_message_chars: int = Field(4000, gt=0, description="Longest user message accepted")
    max_socket_mb: float = Field(
        4.0, gt=0, description="Largest websocket message the server reads (engine.io's buffer): a longer chat message "
        "up to this size is answered \"too long\"; past it the connection drops. Keep far above CHAT_MAX_MESSAGE_CHARS"
    )
    max_tool_steps: int = Field(
        10, gt=0, description="Model/tool round trips per turn (several requests in one message take a few each)"
    )
    turn_timeout_s: float = Field(120.0, gt=0, description="Wall-clock limit for one turn")
    worker_threads: int = Field(
        128, gt=0, description="Threads of the event loop's default pool, where turns route, embed and search: a turn "
        "waiting for the shared embedding pass holds one, so turns queued behind the pool miss the pass. About one "
        "per concurrent chat an instance serves (100 chats: first token p99 ~1.7 s with 6, 0.77-1.05 s with 32, "
        "0.84-0.86 s with 128)"
    )
    first_words_crowd: int = Field(
        10, ge=0, description="While at least this many turns wait for their first words, a turn that has answered "
        "holds its writes (at most CHAT_FIRST_WORDS_MAX_WAIT_S) so theirs come first; 0 = never hold"
    )
    first_words_max_wait_s: float = Field(
        0.4, ge=0, description="Longest a turn's writes wait for other turns' first words; the turn ends after them"
    )
    first_words_busy_s: float = Field(
        0.0005, ge=0, description="A turn's writes wait for others' first words only while a round of the event "
        "loop's queued work takes this long (idle under 0.5 ms, 100 chats 0.4-15 ms): turns waiting on a remote "
        "model leave it idle, and holding would help nobody"
    )
    stream_interval_s: float = Field(
        0.1, ge=0, description="A reply's words go to the page at most this often after its first ones, those in "
        "between together (0 = each chunk as the model streams it); sending word by word costs more than answering"
    )
    live_heartbeat_s: float = Field(
        15.0, gt=0, description="Keep-alive interval of a live hand-over page's event stream (below proxies' idle "
        "timeouts; nginx's proxy_read_timeout is 60 s by default)"
    )


class AuthSettings(BaseSettings):
    """Sign-in. With it on, customers see and resume their past conversations."""

    model_config = _group("AUTH_")

    enabled: bool = Field(True, description="Require sign-in (password login; see README for header/JWT and OAuth)")
    secret: SecretStr = Field(
        SecretStr(""),
        description="Signs session tokens (CHAINLIT_AUTH_SECRET); empty = generated once into .data/auth-secret",
    )
    demo_users: bool = Field(True, description="Create the demo customer and lead at start if missing")
    demo_password: SecretStr = Field(SecretStr("larkspur-demo"), description="Password of both demo accounts")
    demo_conversations: bool = Field(
        True, description="Seed a few dozen demo conversations (ratings, tickets, gaps) into an empty history at start"
    )
    widget_secret: SecretStr = Field(
        SecretStr(""), description="Shared secret (HS256) the shop signs widget tokens with; empty = widget login off"
    )
    widget_header: str = Field("X-Shop-Token", description="Header carrying the shop-signed token")
    widget_issuer: str = Field("", description="Expected `iss` claim of widget tokens; empty = not checked")
    widget_audience: str = Field("larkspur-support", description="Expected `aud` claim of widget tokens")
    widget_origin: str = Field(
        "", description="The shop's origin (scheme://host:port) whose pages embed the widget, allowed to call the app "
        "from the browser besides config.toml's allow_origins; empty = none"
    )
    login_attempts_per_minute: float = Field(10.0, gt=0, description="Sign-in attempts allowed per client IP per minute")
    login_burst: int = Field(5, gt=0, description="Sign-in attempts an IP may make at once")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or networks of the reverse proxies whose X-Forwarded-For is believed "
        "(behind nginx on this host: 127.0.0.1); empty = nobody's, the client is the connecting address",
    )

    _split_proxies = field_validator("trusted_proxies", mode="before")(split_csv)

    @field_validator("widget_origin")
    @classmethod
    def _one_origin(cls, value: str) -> str:
        """One exact origin: "*" or a path would let other sites call the app with the customer's cookie."""
        value = value.strip().rstrip("/")
        if value and not re.fullmatch(r"https?://[^/\s*]+", value):
            raise ValueError(f"AUTH_WIDGET_ORIGIN must be one origin like https://shop.example, not {value!r}")
        return value


class AnalyticsSettings(BaseSettings):
    """The workspace's analytics page: date range, top lists and content-gap grouping."""

    model_config = _group("ANALYTICS_")

    default_days: int = Field(30, gt=0, description="Days shown when no range is given (the last ones, today included)")
    max_days: int = Field(731, gt=0, description="Longest date range the page accepts, in days")
    top_items: int = Field(10, gt=0, description="Intents and tools listed, the most frequent first")
    gap_questions: int = Field(500, gt=0, description="Most recent content-gap questions grouped by meaning")
    gap_distance: float = Field(
        0.5, gt=0, le=2, description="Cosine distance under which gap questions form one group (higher: broader groups)"
    )
    gap_groups: int = Field(20, gt=0, description="Content-gap groups listed, largest first")


class ObservabilitySettings(BaseSettings):
    """Logs, metrics, readiness and shutdown."""

    model_config = _group("OBSERVABILITY_")

    log_format: Literal["text", "json"] = Field(
        "text", description="`json`: one JSON object per line (set it in production); `text`: readable lines for `make run`"
    )
    ready_timeout_s: float = Field(3.0, gt=0, description="Each /ready check (database, Redis, Chroma, model) fails after this")
    shutdown_grace_s: float = Field(
        30.0, gt=0, description="On SIGTERM, running turns get this long to finish before the process exits"
    )
    metrics_token: SecretStr = Field(
        SecretStr(""), description="When set, /metrics answers only `Authorization: Bearer <token>` (Prometheus's "
        "`authorization` block); empty = open, for a scrape network the public ingress cannot reach"
    )


class ApiSettings(BaseSettings):
    """The HTTP API at /api/v1 (customers named by shop-signed tokens: AUTH_WIDGET_SECRET)."""

    model_config = _group("API_")

    enabled: bool = Field(True, description="Serve /api/v1 (it answers 401 to everyone while AUTH_WIDGET_SECRET is empty)")
    page_size: int = Field(20, gt=0, le=100, description="Most conversations per page of GET /api/v1/conversations")
    form_overhead_bytes: int = Field(
        65536, ge=0, description="Room for a multipart message's text and boundaries beyond its files' size limits"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app: AppSettings = Field(default_factory=AppSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    offline: OfflineSettings = Field(default_factory=OfflineSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    tools: ToolSettings = Field(default_factory=ToolSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    observability: ObservabilitySettings = Field(default_factory=ObservabilitySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @property
    def store_database(self) -> tuple[str, str]:
        """(URL, schema) of the store: its own, or the chat history's database."""
        return store_database(self.database, self.store)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def _rows() -> list[tuple[str, str, str, str]]:
    """(group doc, env var, default, description) for every knob."""
    rows = []
    for field in Settings.model_fields.values():
        group = field.default_factory  # each group is its own settings class
        prefix = group.model_config["env_prefix"]
        doc = (group.__doc__ or "").strip()
        for name, info in group.model_fields.items():
            default = info.get_default(call_default_factory=True)
            if isinstance(default, SecretStr):
                default = default.get_secret_value()
            if isinstance(default, list):
                default = ",".join(default)
            if isinstance(default, Path):
                default = default.relative_to(PROJECT_ROOT) if default.is_relative_to(PROJECT_ROOT) else default
            rows.append((doc, f"{prefix}{name}".upper(), str(default), info.description or ""))
    return rows


def env_example() -> str:
    lines = ["# Generated by `python -m agent.settings env`. Copy to .env and edit.", ""]
    last_doc = None
    for doc, env, default, description in _rows():
        if doc != last_doc:
            lines += ([""] if last_doc else []) + [f"# --- {doc}"]
            last_doc = doc
        lines += [f"# {description}", f"{env}={default}"]
    return "\n".join(lines) + "\n"


def markdown_table() -> str:
    lines = ["| Variable | Default | What it does |", "|---|---|---|"]
    for _doc, env, default, description in _rows():
        lines.append(f"| `{env}` | `{default}` | {description} |" if default else f"| `{env}` | | {description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    outputs = {"env": env_example, "markdown": markdown_table}
    if len(sys.argv) != 2 or sys.argv[1] not in outputs:
        sys.exit("usage: python -m agent.settings env|markdown")
    sys.stdout.write(outputs[sys.argv[1]]())
