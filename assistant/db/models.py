"""SQLAlchemy 2 table models: conversations, messages, feedback, tickets, ticket events.

The models are the persistence edge; the rest of the code sees the frozen
dataclasses of ``assistant.core.types`` (the store converts).  The schema itself is
created by the Alembic migrations in ``assistant/db/migrations``; a test checks
that migrations and these models agree.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes stored as naive UTC.

    SQLite has no time zone type and PostgreSQL's ``timestamp`` compares
    naive values, so storing naive UTC keeps ``lease_until < now`` correct on
    both; values come back aware (UTC).  A naive datetime is refused because
    it would silently mean local time somewhere.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the database; pass an aware UTC datetime")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Base(DeclarativeBase):
    """Declarative base of every Xiao Shen table."""


class ConversationRow(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_created_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lang: Mapped[str] = mapped_column(String(8), nullable=False)
    elder_mode: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: anonymous id of the browser (local storage); spots a question asked again
    #: in a later conversation, which the self-service resolution rate counts.
    client_id: Mapped[str] = mapped_column(String(64), nullable=False, default="", index=True)
    #: the serialised DialogueState (``assistant.db.serde``).
    state: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    #: ``open`` (the bot answers) or ``handed_off`` (a person owns it).
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    #: bumped by every write of ``state`` (compare-and-set; see ConversationStore).
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation_id_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    intent: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    action: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    item_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    options: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    timings: Mapped[dict[str, float]] = mapped_column(JSON, nullable=False, default=dict)
    handoff_reason: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    generator: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    #: the staff member who wrote an ``agent`` message.
    agent: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class FeedbackRow(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="ck_feedback_rating"),
        CheckConstraint("helpful IS NOT NULL OR rating IS NOT NULL", name="ck_feedback_something"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    #: the answer judged; NULL for a rating of the whole conversation (好差评).
    message_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("messages.id", ondelete="CASCADE"), nullable=True
    )
    helpful: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class TicketRow(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(
            "status IN ('new', 'claimed', 'answered', 'resolved', 'closed')", name="ck_tickets_status"
        ),
        Index("ix_tickets_status_created_at", "status", "created_at"),
        Index("ix_tickets_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="new")
    reason: Mapped[str] = mapped_column(String(32), nullable=False)
    department: Mapped[str] = mapped_column(String(128), nullable=False)
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    item_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    #: made outside working hours: a person calls or writes back later.
    callback: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    agent: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: when the waiting time restarted (creation, reopen, transfer); queue order uses it.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolution: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class TicketEventRow(Base):
    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False, index=True
    )
    #: created, claimed, replied, transferred, released, resolved, closed, reopened.
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    agent: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class PiiOriginalRow(Base):
    """The typed text of a masked user message, Fernet-encrypted (``assistant.db.vault``)."""

    __tablename__ = "pii_originals"

    message_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    ciphertext: Mapped[str] = mapped_column(Text, nullable=False)


class IdempotencyRow(Base):
    """An ``Idempotency-Key`` of a message post: pending (no response yet) or done."""

    __tablename__ = "idempotency_keys"

    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: sha256 of what the request asked; the same key with another body is refused.
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: the response body (JSON) once the request finished; a retry gets it again.
    response: Mapped[str | None] = mapped_column(Text, nullable=True)


class StaffAccountRow(Base):
    """A member of staff's account (``assistant.core.types.Account``); never deleted, only disabled."""

    __tablename__ = "staff_accounts"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: sorted role names (agent, kb_operator, supervisor, admin).
    roles: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    #: argon2id, encoded (parameters and salt included); never the password.
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class StaffSessionRow(Base):
    """A signed-in browser; the cookie holds the random id, this row only its sha256."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(
        String(64), ForeignKey("staff_accounts.username", ondelete="CASCADE"), nullable=False, index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class AuditRow(Base):
    """One staff action; append-only (the migration adds triggers refusing UPDATE and DELETE)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_id", "actor", "id"),
        Index("ix_audit_log_action_id", "action", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    #: JSON values with personal data masked; NULL when not applicable.
    before: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    after: Mapped[Any] = mapped_column(JSON(none_as_null=True), nullable=True)
    client: Mapped[str] = mapped_column(String(64), nullable=False, default="")


class ConversationTokenRow(Base):
    """The sha256 of a web conversation's citizen token (``X-Conversation-Token``)."""

    __tablename__ = "conversation_tokens"

    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
