"""Settings groups of the tools and their SQL store (composed into `agent.settings.Settings`).

The database group lives here because the shop store and the chat history share one database and its
plumbing (`tools.store.sql`); the tools CLIs read these groups without the rest of the app.
"""

from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass, field
from typing import Annotated, Literal, Protocol

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from knowledge.settings import PROJECT_ROOT, settings_group, split_csv


class DatabaseSettings(BaseSettings):
    """Threads, steps, feedback and files (Chainlit history), and users."""

    model_config = settings_group("DATABASE_")

    url: str = Field(
        "sqlite+aiosqlite:///.data/app.db",
        description="SQLAlchemy async URL; PostgreSQL: postgresql+asyncpg://user:pass@host/db",
    )
    schema_name: str = Field("", description="PostgreSQL schema for the tables; empty = the default")
    echo: bool = Field(False, description="Log every SQL statement")
    write_retries: int = Field(3, gt=0, description="Attempts of a write that fails transiently")
    sqlite_threads: int = Field(
        8, gt=0, description="SQLite only: worker threads (and connections) that run the chat history's transactions "
        "whole, reads side by side, writes one at a time; through aiosqlite each statement waited on the event loop"
    )
    known_conversations: int = Field(
        10_000, gt=0, description="Conversations whose thread row, facts row and owner this process remembers, so a "
        "turn's writes skip their lookups and empty-row inserts (a row deleted elsewhere is noticed and made again)"
    )
    storage_dir: Path = Field(PROJECT_ROOT / ".data" / "files", description="Where uploaded files and elements live")
    s3_bucket: str = Field("", description="S3-compatible bucket for files instead of the local folder")
    s3_endpoint_url: str = Field("", description="S3 endpoint (MinIO, R2...); empty = AWS")


class ToolSettings(BaseSettings):
    """The tool registry and the resilience around every tool."""

    model_config = settings_group("TOOLS_")

    enabled: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated names of the tools offered; empty = every registered tool"
    )
    timeout_s: float = Field(10.0, gt=0, description="Per-call timeout")
    retry_attempts: int = Field(3, gt=0, description="Attempts for a transient failure")
    retry_backoff_s: float = Field(0.2, ge=0, description="First retry delay, jittered")
    breaker_failure_threshold: int = Field(5, gt=0, description="Consecutive failures that open a circuit")
    breaker_reset_s: float = Field(30.0, gt=0, description="Seconds before an open circuit is retried")

    _split = field_validator("enabled", mode="before")(split_csv)


class StoreSettings(BaseSettings):
    """The shop's records (customers, orders, products, tickets) that the business tools act on."""

    model_config = settings_group("STORE_")

    database_url: str = Field("", description="SQLAlchemy async URL of the store; empty = DATABASE_URL")
    schema_name: str = Field("", description="PostgreSQL schema of the store tables; empty = DATABASE_SCHEMA_NAME")
    seed_on_start: bool = Field(True, description="Fill an empty store with the demo shop at start")
    seed_customers: int = Field(300, gt=0, description="Customers the demo generator creates")
    seed_random_seed: int = Field(20261124, description="Seed of the demo generator; same seed, same shop")
    confirmation_ttl_s: float = Field(900.0, gt=0, description="How long a Confirm button stays valid")
    public_url: str = Field("http://localhost:8000", description="Base URL of this app, for transcript links in tickets")



class AppSettings(BaseSettings):
    """What the customer sees about the shop, logging, and the process's memory."""

    model_config = settings_group("APP_")

    store_name: str = Field("Larkspur Goods", description="Shop name used in replies")
    assistant_name: str = Field(
        "Larkspur Assistant", description="Author name of the assistant's messages (keep equal to [UI] name in .chainlit/config.toml)"
    )
    support_email: str = Field("support@larkspurgoods.example", description="Where humans answer")
    support_hours: str = Field(
        "Mon-Fri 8:00-20:00, Sat 9:00-17:00 ET", description="When humans answer"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    malloc_arenas: int = Field(
        2, ge=0, description="glibc malloc arenas the process may create (MALLOC_ARENA_MAX): each worker thread "
        "otherwise keeps its own, ~250 MB more under 100 chats; 0 = glibc's default (8 per core)"
    )
    gc_young_threshold: int = Field(
        20000, ge=0, description="Allocations between two collections of the garbage collector's youngest generation, "
        "from warm-up on (Python's default, 700, spent ~10% of the event loop under 100 chats); 0 keeps Python's"
    )


def store_database(database: DatabaseSettings, store: StoreSettings) -> tuple[str, str]:
    """(URL, schema) of the store: its own, or the chat history's database."""
    return (store.database_url or database.url, store.schema_name or database.schema_name)


class ToolConfig(Protocol):
    """The settings groups the tools read. `agent.settings.Settings` has them all; the CLIs use `ToolEnvironment`."""

    @property
    def app(self) -> AppSettings: ...

    @property
    def database(self) -> DatabaseSettings: ...

    @property
    def store(self) -> StoreSettings: ...

    @property
    def tools(self) -> ToolSettings: ...

    @property
    def store_database(self) -> tuple[str, str]: ...


@dataclass
class ToolEnvironment:
    """The tools' settings groups read from the environment, for the tools CLIs (no app around them)."""

    app: AppSettings = field(default_factory=AppSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    tools: ToolSettings = field(default_factory=ToolSettings)

    @property
    def store_database(self) -> tuple[str, str]:
        return store_database(self.database, self.store)
