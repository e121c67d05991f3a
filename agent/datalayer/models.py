"""Tables for Chainlit 2.12 history (threads, steps, elements, feedbacks) and our users.

Columns exist for what we filter, sort or join on; everything else Chainlit sends
lives in portable JSON columns (JSONB on PostgreSQL), plus a catch-all `extra`
column on steps so a field added by a newer Chainlit is stored, not dropped.

Tables carry no schema: the PostgreSQL schema is applied per engine with
`schema_translate_map` (see db.py), so the same models serve every schema.
Changing anything here needs a new migration in migrations/versions/.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    literal_column,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tools.store.sql import PortableJSON

ROLES = ("customer", "lead", "admin")
STAFF_ROLES = frozenset({"lead", "admin"})  # may open the workspace; their own chats never count


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('customer', 'lead', 'admin')", name="ck_users_role"),
        UniqueConstraint("identifier", name="uq_users_identifier"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="customer")
    password_hash: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", PortableJSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Thread(Base):
    __tablename__ = "threads"
    __table_args__ = (
        Index("ix_threads_user_created", "user_id", "created_at", "id"),
        Index("ix_threads_created", "created_at", "id"),  # the workspace's list: newest first, keyset-paged
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str] | None] = mapped_column(PortableJSON)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", PortableJSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Step(Base):
    __tablename__ = "steps"
    __table_args__ = (
        Index("ix_steps_thread_created", "thread_id", "created_at"),
        # PostgreSQL only (migration 0003; skipped where pg_trgm is unavailable): trigram search of the text,
        # for the workspace's `output ILIKE '%word%'`. Declared on an expression so that Alembic's comparison on
        # SQLite, where it does not exist, skips it; ddl_if keeps create_all from building it there.
        Index(
            "ix_steps_output_trgm", literal_column("output"),
            postgresql_using="gin", postgresql_ops={"output": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
    )  # fmt: skip

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    parent_id: Mapped[str | None] = mapped_column(String(255))  # no FK: parents may be persisted later
    name: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(String(64))
    input: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    is_error: Mapped[bool | None] = mapped_column(Boolean)
    streaming: Mapped[bool | None] = mapped_column(Boolean)
    wait_for_answer: Mapped[bool | None] = mapped_column(Boolean)
    default_open: Mapped[bool | None] = mapped_column(Boolean)
    auto_collapse: Mapped[bool | None] = mapped_column(Boolean)
    show_input: Mapped[Any] = mapped_column(PortableJSON, nullable=True)  # bool or a language name: JSON keeps the type
    language: Mapped[str | None] = mapped_column(String(64))
    icon: Mapped[str | None] = mapped_column(Text)
    command: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    start_at: Mapped[datetime | None] = mapped_column(DateTime)
    end_at: Mapped[datetime | None] = mapped_column(DateTime)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", PortableJSON)
    tags: Mapped[list[str] | None] = mapped_column(PortableJSON)
    modes: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    generation: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    extra: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)  # StepDict keys we do not know yet


class Element(Base):
    __tablename__ = "elements"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), index=True)
    for_id: Mapped[str | None] = mapped_column(String(255), index=True)  # the step; may arrive first
    type: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(Text)
    mime: Mapped[str | None] = mapped_column(String(255))
    display: Mapped[str | None] = mapped_column(String(16))
    size: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(64))
    page: Mapped[int | None] = mapped_column(Integer)
    auto_play: Mapped[bool | None] = mapped_column(Boolean)
    player_config: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    props: Mapped[dict[str, Any] | None] = mapped_column(PortableJSON)
    url: Mapped[str | None] = mapped_column(Text)
    object_key: Mapped[str | None] = mapped_column(Text)
    chainlit_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Feedback(Base):
    __tablename__ = "feedbacks"
    __table_args__ = (UniqueConstraint("for_id", name="uq_feedbacks_for_id"),)  # one rating per step, like the UI

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    for_id: Mapped[str] = mapped_column(String(255))
    thread_id: Mapped[str | None] = mapped_column(String(255), index=True)
    value: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


# What the workspace reads: one record of facts per conversation, kept by the chat service at the end of every
# turn and click (agent/chat/facts.py), not derived from the steps on each page view. Not in thread metadata:
# that reaches the customer's browser and Chainlit overwrites it on resume.

OUTCOMES = ("answered", "unanswered", "escalated", "error")
GAP_KINDS = ("missed", "rated_down", "handed_over")
ITEM_KINDS = ("intent", "tool")


class ConversationFacts(Base):
    __tablename__ = "conversation_facts"
    __table_args__ = (
        CheckConstraint("outcome IN ('answered', 'unanswered', 'escalated', 'error')", name="ck_facts_outcome"),
        Index("ix_facts_started", "started_at", "thread_id"),
        Index("ix_facts_ticket_status", "ticket_status"),
        Index("ix_facts_user", "user_id"),
    )

    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(36))  # the owner (users.id); None when anonymous
    started_at: Mapped[datetime] = mapped_column(DateTime)
    last_customer_at: Mapped[datetime | None] = mapped_column(DateTime)  # the customer's latest message
    last_answer_at: Mapped[datetime | None] = mapped_column(DateTime)  # the assistant's latest reply
    first_response_ms: Mapped[int | None] = mapped_column(Integer)  # first turn: message in -> first token out
    turns: Mapped[int] = mapped_column(Integer, default=0)  # customer messages
    errors: Mapped[int] = mapped_column(Integer, default=0)  # turns or clicks that ended in an error
    knowledge_misses: Mapped[int] = mapped_column(Integer, default=0)  # questions answered with "I don't know"
    cards_shown: Mapped[int] = mapped_column(Integer, default=0)
    cards_confirmed: Mapped[int] = mapped_column(Integer, default=0)
    cards_declined: Mapped[int] = mapped_column(Integer, default=0)
    cards_expired: Mapped[int] = mapped_column(Integer, default=0)  # clicked too late, or replaced by a newer card
    ticket_id: Mapped[str | None] = mapped_column(String(32))  # the hand-over ticket, in the store's database
    ticket_status: Mapped[str | None] = mapped_column(String(16))  # open / pending / solved, kept in step
    last_rating: Mapped[int | None] = mapped_column(Integer)  # 1 👍, 0 👎, None unrated: the latest rating given
    outcome: Mapped[str] = mapped_column(String(16), default="unanswered")
    # A human took the conversation over: escalation (the ticket's opening) -> take-over, and -> the human's
    # first message to the customer. Only the first hand-over of a conversation is timed.
    human_pickup_ms: Mapped[int | None] = mapped_column(Integer)
    human_first_reply_ms: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class FactItem(Base):
    """An intent recognised or a tool run in a conversation, with how often (and for tools, how often it failed)."""

    __tablename__ = "conversation_fact_items"
    __table_args__ = (
        CheckConstraint("kind IN ('intent', 'tool')", name="ck_fact_items_kind"),
        Index("ix_fact_items_kind_name", "kind", "name", "thread_id"),
    )

    thread_id: Mapped[str] = mapped_column(
        ForeignKey("conversation_facts.thread_id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class ContentGap(Base):
    """A customer question the assistant could not answer from the knowledge base, or whose answer got a 👎 or
    a hand-over. `embedding` (float32 MiniLM vector) is filled the first time the analytics cluster it."""

    __tablename__ = "content_gaps"
    __table_args__ = (
        CheckConstraint("kind IN ('missed', 'rated_down', 'handed_over')", name="ck_content_gaps_kind"),
        Index("ix_content_gaps_asked", "asked_at"),
    )

    thread_id: Mapped[str] = mapped_column(
        ForeignKey("conversation_facts.thread_id", ondelete="CASCADE"), primary_key=True
    )
    step_id: Mapped[str] = mapped_column(String(255), primary_key=True)  # the customer's message
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(DateTime)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)


class TranscriptView(Base):
    """Who opened which conversation's transcript, and when (an audit trail for staff access)."""

    __tablename__ = "transcript_views"
    __table_args__ = (Index("ix_transcript_views_thread", "thread_id", "viewed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    thread_id: Mapped[str] = mapped_column(String(255))  # no FK: the log outlives a deleted conversation
    viewer: Mapped[str] = mapped_column(String(255))  # the staff member's identifier
    viewed_at: Mapped[datetime] = mapped_column(DateTime)


class Handover(Base):
    """A human colleague holding a conversation: while `ended_at` is NULL the assistant does not answer in it.

    The partial unique index lets at most one hand-over per conversation be live, so two staff members clicking
    Take over at once cannot both win: the second insert fails and is told who holds it."""

    __tablename__ = "handovers"
    __table_args__ = (
        Index("ux_handovers_live", "thread_id", unique=True, sqlite_where=literal_column("ended_at IS NULL"),
              postgresql_where=literal_column("ended_at IS NULL")),
        Index("ix_handovers_started", "started_at"),
    )  # fmt: skip

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    thread_id: Mapped[str] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    ticket_id: Mapped[str] = mapped_column(String(32))  # in the store's database, maybe another: no FK
    staff: Mapped[str] = mapped_column(String(255))  # the human's sign-in identifier
    staff_name: Mapped[str] = mapped_column(String(255))  # shown to the customer
    escalated_at: Mapped[datetime] = mapped_column(DateTime)  # the ticket's opening: hand-over times count from it
    started_at: Mapped[datetime] = mapped_column(DateTime)
    first_reply_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    end_reason: Mapped[str | None] = mapped_column(String(16))  # handed_back, solved


class ApiKey(Base):
    """A server-to-server client of the HTTP API. Only a SHA-256 of the key's secret is kept: the key is shown once,
    when it is created (`python -m agent.users api-key-create`), and is random enough that no slow hash is needed."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the key's public part
    name: Mapped[str] = mapped_column(String(255))  # which client: "shop backend"
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class OutboxMessage(Base):
    """A notification for a customer who was not in the chat when a human answered. Rows are added here; sending
    them (email, push) is a deployment's job: a worker reads rows with `sent_at` NULL and sets it once sent."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unsent", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    thread_id: Mapped[str] = mapped_column(String(255))  # no FK: a queued notice outlives a deleted conversation
    recipient: Mapped[str] = mapped_column(String(255))  # the customer's sign-in identifier (an email)
    kind: Mapped[str] = mapped_column(String(32))  # human_reply
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
