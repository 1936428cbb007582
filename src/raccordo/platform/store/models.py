"""SQLAlchemy tables. Every tenant-owned row carries ``tenant_id``; every query filters on it."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite needs INTEGER PRIMARY KEY for rowid autoincrement; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType, list[Any]: JSONType}


def _id() -> Mapped[int]:
    return mapped_column(BigId, primary_key=True, autoincrement=True)


def _tenant() -> Mapped[int]:
    return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[int] = _id()
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    default_region: Mapped[str] = mapped_column(String(2), default="IT")
    default_language: Mapped[str] = mapped_column(String(8), default="it")
    # continuity: {"across_channels": bool, "reopen_window_hours": int}
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8), default="it")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    members: Mapped[list[TeamMember]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class TeamMember(Base):
    __tablename__ = "team_members"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of a 256-bit random token
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginSession(Base):
    __tablename__ = "login_sessions"
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class LoginAttempt(Base):
    """Failed logins, counted per email and per client address across all processes."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = _id()
    key: Mapped[str] = mapped_column(String(400), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Inbox(Base):
    __tablename__ = "inboxes"
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32))
    # Public identifier used in webhook URLs, so internal ids are not exposed to providers.
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets_encrypted: Mapped[str | None] = mapped_column(Text)
    business_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str | None] = mapped_column(String(300))
    # Folded name (no case, accents or word order) for duplicate detection.
    name_key: Mapped[str] = mapped_column(String(300), default="", index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    consent: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set when this contact was merged away; its id keeps resolving to the survivor.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Loaded on access (or with selectinload where a list needs them), never on the ingest path.
    identities: Mapped[list[ContactIdentity]] = relationship(lazy="select", order_by="ContactIdentity.id", viewonly=True)


def _email_local_part(row: dict[str, Any]) -> str | None:
    return str(row["value"]).split("@", 1)[0] if row.get("kind") == "email" else None


class ContactIdentity(Base):
    __tablename__ = "contact_identities"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "value", name="uq_identity_per_tenant"),
        Index("ix_identity_match_key", "tenant_id", "match_key"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(320))
    # The email's local part, so "same user at another domain" is an index lookup, not a LIKE scan.
    match_key: Mapped[str | None] = mapped_column(String(320), default=lambda context: _email_local_part(context.get_current_parameters()))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MergeSuggestion(Base):
    __tablename__ = "merge_suggestions"
    __table_args__ = (UniqueConstraint("tenant_id", "contact_a_id", "contact_b_id", name="uq_suggestion_pair"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    contact_a_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)  # always the lower id
    contact_b_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    score: Mapped[float]
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, merged, dismissed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_tenant_activity", "tenant_id", "last_activity_at", "id"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    priority: Mapped[str] = mapped_column(String(16), default="none")
    subject: Mapped[str | None] = mapped_column(String(500))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    labels: Mapped[list[Any]] = mapped_column(default=list)
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_channel: Mapped[str | None] = mapped_column(String(32))
    last_inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inboxes.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_customer_message_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    # Read receipts on chat channels (the web widget): when an agent, and the customer, last saw it.
    agent_last_seen_at: Mapped[datetime | None]
    contact_last_seen_at: Mapped[datetime | None]
    # The wrap-up code given when it was last resolved (cleared on reopening).
    wrap_up_code: Mapped[str | None] = mapped_column(String(64))


class ConversationLabel(Base):
    """One row per label, so the inbox can filter by label with an index on both backends."""

    __tablename__ = "conversation_labels"
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    tenant_id: Mapped[int] = _tenant()


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("inbox_id", "provider_message_id", name="uq_message_provider_id"),
        Index("ix_messages_conversation", "conversation_id", "id"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str | None] = mapped_column(String(32))
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inboxes.id", ondelete="SET NULL"))
    sender_type: Mapped[str] = mapped_column(String(16))
    sender_id: Mapped[int | None] = mapped_column(BigId)
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    content_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provider_message_id: Mapped[str | None] = mapped_column(String(500))
    delivery_status: Mapped[str] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attachments: Mapped[list[Attachment]] = relationship(lazy="selectin", order_by="Attachment.id", viewonly=True)


class Attachment(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_path: Mapped[str] = mapped_column(String(500))  # relative to the attachments directory
    # Set for an inline part that the message's HTML shows as cid:<content_id> (email).
    content_id: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RawInbound(Base):
    """Every inbound payload, stored before it is acknowledged and kept for inspection."""

    __tablename__ = "raw_inbound"
    __table_args__ = (
        Index("ix_raw_inbound_status", "status", "received_at"),
        Index("ix_raw_inbound_retention", "status", "processed_at"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The whole request, as the channel verifies it: POST/GET for webhooks, POLL or WS otherwise;
    # the URL the provider called (or where a poller fetched it); the query parameters in order.
    method: Mapped[str | None] = mapped_column(String(8))
    url: Mapped[str | None] = mapped_column(Text)
    query: Mapped[list[Any]] = mapped_column(default=list)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, processed, ignored, failed, rejected
    error: Mapped[str | None] = mapped_column(Text)
    message_ids: Mapped[list[Any]] = mapped_column(default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]
    # While set and in the future, a process is working on the row (the request that stored it,
    # or a reprocessing worker): nobody else takes it before it expires.
    claimed_until: Mapped[datetime | None]


class InboundRejection(Base):
    """A webhook request refused before storing (bad or missing signature): who, when, why, how big; never the body."""

    __tablename__ = "inbound_rejections"
    __table_args__ = (Index("ix_inbound_rejections_inbox", "inbox_id", "received_at"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(String(64))
    remote: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64))


class TimelineEvent(Base):
    """Append-only history of a contact and its conversations."""

    __tablename__ = "timeline_events"
    __table_args__ = (Index("ix_timeline_contact", "contact_id", "id"), Index("ix_timeline_conversation", "conversation_id", "id"))
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    kind: Mapped[str] = mapped_column(String(32))
    actor_type: Mapped[str] = mapped_column(String(16))  # contact, user, bot, system
    actor_id: Mapped[int | None] = mapped_column(BigId)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_tenant", "tenant_id", "id"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(BigId)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    client_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxItem(Base):
    """An outbound send waiting for (or done by) a worker. The idempotency key travels to the provider."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "due_at"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Event(Base):
    """A domain event for realtime clients, stored so a reconnecting client can resume.

    Ids are assigned at commit, in commit order per tenant (see ``services/events``), so
    "everything after id N" is exact for a resuming client.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_tenant_id", "tenant_id", "id"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(48))
    conversation_id: Mapped[int | None] = mapped_column(BigId)
    contact_id: Mapped[int | None] = mapped_column(BigId)
    user_id: Mapped[int | None] = mapped_column(BigId)  # the agent it concerns (assignee, presence)
    team_id: Mapped[int | None] = mapped_column(BigId)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Job(Base):
    """A durable timer or background task: runs at ``due_at``, claimed by one worker with a lease."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_due", "status", "due_at"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(48))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # At most one pending job per key (e.g. one snooze-end per conversation); reused when rescheduled.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, running, done, failed, cancelled
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class AgentPresence(Base):
    """An agent's chosen state; "online" needs at least one live connection, see AgentConnection."""

    __tablename__ = "agent_presence"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    status: Mapped[str] = mapped_column(String(16), default="offline")  # online, away, offline
    reason: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentConnection(Base):
    """One open WebSocket of an agent (a browser tab), on one node, kept alive by heartbeats."""

    __tablename__ = "agent_connections"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    node: Mapped[str] = mapped_column(String(64))
    connected_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailboxLease(Base):
    """Which process polls an inbox's mailbox now (one at a time), and how the last poll went."""

    __tablename__ = "mailbox_leases"
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    owner: Mapped[str | None] = mapped_column(String(64))
    leased_until: Mapped[datetime | None]
    last_poll_at: Mapped[datetime | None]
    last_ok_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    fetched: Mapped[int] = mapped_column(BigInteger, default=0)


# --- routing (ACD) -------------------------------------------------------------------------------


def fold_name(value: str | None) -> str | None:
    """The key a name is unique by: NFKC-normalized and casefolded (``Ãrabo`` and ``ãRABO`` are
    one name on every database; SQLite's ``lower()`` folds ASCII only)."""
    return None if value is None else unicodedata.normalize("NFKC", value).casefold()


def _folded(source: str) -> Any:
    """A ``*_key`` column filled from ``source`` on insert (ORM or Core); ORM updates go through
    ``@validates`` on the model."""

    def default(context: Any) -> str | None:
        return fold_name(context.get_current_parameters().get(source))

    return mapped_column(Text, default=default)


class Skill(Base):
    __tablename__ = "skills"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_skills_tenant_name"),
        Index("uq_skills_tenant_name_key", "tenant_id", "name_key", unique=True),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    name_key: Mapped[str | None] = _folded("name")

    @validates("name")
    def _fold(self, key: str, value: str | None) -> str | None:
        setattr(self, f"{key}_key", fold_name(value))
        return value


class AgentSkill(Base):
    """An agent's level (1-5) in a skill."""

    __tablename__ = "agent_skills"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    level: Mapped[int] = mapped_column(Integer)


class AgentCapacity(Base):
    """How many conversations an agent takes at once per channel; exclusive channels take the whole agent."""

    __tablename__ = "agent_capacity"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = _tenant()
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    exclusive: Mapped[list[Any]] = mapped_column(default=list)
    last_routed_at: Mapped[datetime | None]


class RoutingQueue(Base):
    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_queues_tenant_name"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(100))
    strategy: Mapped[str] = mapped_column(String(24), default="longest_idle")
    # None: assign directly; otherwise offer, and the offer expires after this many seconds.
    offer_timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    ageing_per_minute: Mapped[float] = mapped_column(default=0.0)
    ageing_cap: Mapped[float] = mapped_column(default=0.0)
    relax: Mapped[list[Any]] = mapped_column(default=list)  # [{"after_seconds": 30, "drop_levels": 1 | null}]
    decline_cooldown_seconds: Mapped[int] = mapped_column(Integer, default=300)
    preferred_agent_seconds: Mapped[int] = mapped_column(Integer, default=0)
    preferred_agent_hours: Mapped[int] = mapped_column(Integer, default=72)  # how far back "served them last" looks
    overflow_after_seconds: Mapped[int | None] = mapped_column(Integer)
    overflow_queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    business_hours: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    out_of_hours_action: Mapped[str] = mapped_column(String(16), default="keep")  # keep, message
    out_of_hours_message: Mapped[str | None] = mapped_column(Text)
    # Resolving a conversation routed through this queue needs a wrap-up code.
    requires_wrap_up: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QueueMember(Base):
    __tablename__ = "queue_members"
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    tenant_id: Mapped[int] = _tenant()


class RoutingRule(Base):
    """Evaluated in ``position`` order on a conversation; the first match puts it into ``queue_id``."""

    __tablename__ = "routing_rules"
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100))
    conditions: Mapped[list[Any]] = mapped_column(default=list)  # [{"field": "channel", "op": "eq", "value": "email"}]
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    required_skills: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QueueItem(Base):
    """A conversation's place in routing: waiting in a queue, offered to an agent, assigned, or done."""

    __tablename__ = "queue_items"
    __table_args__ = (Index("ix_queue_items_tenant_status", "tenant_id", "status"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("routing_rules.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    required_skills: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting, offered, assigned, done
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)  # entered routing
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)  # entered this queue (overflow, relaxation, ageing)
    offered_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    offer_expires_at: Mapped[datetime | None]
    declined: Mapped[dict[str, Any]] = mapped_column(default=dict)  # user id -> ISO time of the decline
    preferred_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoutingEvent(Base):
    """What happened to a conversation in routing, for analytics (service level, ASA, abandonment, AHT, FRT)."""

    __tablename__ = "routing_events"
    __table_args__ = (Index("ix_routing_events_tenant_at", "tenant_id", "at"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # queued, offered, accepted, declined, offer_expired, assigned, first_response, transferred,
    # overflowed, abandoned, resolved
    kind: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RoutingRequest(Base):
    """"Route this tenant again": appended by any change that may allow an assignment, consumed by a pass."""

    __tablename__ = "routing_requests"
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoutingState(Base):
    """One row per tenant: locked by the process routing it; ``next_run_at`` for time-based changes."""

    __tablename__ = "routing_state"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    last_run_at: Mapped[datetime | None]


# --- SLA -----------------------------------------------------------------------------------------


class SlaPolicy(Base):
    """Targets for first response, next response and resolution, in business hours; the first
    active policy (by position) whose conditions hold applies to a conversation."""

    __tablename__ = "sla_policies"
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    conditions: Mapped[list[Any]] = mapped_column(default=list)  # same format as routing rules (priority, channel, queue_id, ...)
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    next_response_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)
    warn_before_seconds: Mapped[int] = mapped_column(Integer, default=0)
    business_hours: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # null: counted around the clock
    actions: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"raise_priority": true, "notify_supervisors": true, "reassign": false}
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaClock(Base):
    """One target running on one conversation: due at ``due_at`` unless paused, met or breached."""

    __tablename__ = "sla_clocks"
    __table_args__ = (Index("ix_sla_clocks_conversation", "conversation_id", "metric"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("sla_policies.id", ondelete="SET NULL"))
    metric: Mapped[str] = mapped_column(String(24))  # first_response, next_response, resolution
    target_seconds: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running, paused, met, breached, cancelled
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    resumed_at: Mapped[datetime] = mapped_column(default=utcnow)  # start of the current running stretch
    elapsed_seconds: Mapped[float] = mapped_column(default=0.0)  # business seconds counted before resumed_at
    due_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]


# --- agent desktop content -------------------------------------------------------------------------


class AnswerTemplate(Base):
    """A canned answer managed by admins: ``body`` with ``{{contact.first_name}}``-style variables,
    and optional per-language bodies (``{"it": ..., "en": ...}``) chosen by the contact's language."""

    __tablename__ = "answer_templates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_answer_templates_tenant_name"),
        UniqueConstraint("tenant_id", "shortcut", name="uq_answer_templates_tenant_shortcut"),
        Index("uq_answer_templates_tenant_name_key", "tenant_id", "name_key", unique=True),
        Index("uq_answer_templates_tenant_shortcut_key", "tenant_id", "shortcut_key", unique=True),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(100))
    shortcut: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    bodies: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    name_key: Mapped[str | None] = _folded("name")
    shortcut_key: Mapped[str | None] = _folded("shortcut")

    @validates("name", "shortcut")
    def _fold(self, key: str, value: str | None) -> str | None:
        setattr(self, f"{key}_key", fold_name(value))
        return value


class WrapUpCode(Base):
    """An outcome agents pick when they resolve a conversation (``code`` is what is stored on it)."""

    __tablename__ = "wrap_up_codes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code", name="uq_wrap_up_codes_tenant_code"),
        Index("uq_wrap_up_codes_tenant_code_key", "tenant_id", "code_key", unique=True),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    code_key: Mapped[str | None] = _folded("code")

    @validates("code")
    def _fold(self, key: str, value: str | None) -> str | None:
        setattr(self, f"{key}_key", fold_name(value))
        return value


# --- guided scripts (migration 0009) ---


class Script(Base):
    """A conversation script designed by admins; its steps live in immutable ``ScriptVersion`` rows
    (``version`` is the latest number). Empty ``channels``/``queue_ids`` mean every channel/queue."""

    __tablename__ = "scripts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_scripts_tenant_name"),
        Index("uq_scripts_tenant_name_key", "tenant_id", "name_key", unique=True),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    queue_ids: Mapped[list[Any]] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    name_key: Mapped[str | None] = _folded("name")

    @validates("name")
    def _fold(self, key: str, value: str | None) -> str | None:
        setattr(self, f"{key}_key", fold_name(value))
        return value


class ScriptVersion(Base):
    """One saved design of a script (a list of steps, see ``domain/scripts.py``); never changed after."""

    __tablename__ = "script_versions"
    __table_args__ = (UniqueConstraint("script_id", "number", name="uq_script_versions_script_number"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    steps: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScriptRun(Base):
    """An agent running a script beside a conversation: the version followed, the current step (None
    once finished) and the path so far (``answers``: [{"step", "value", "at", "by"}])."""

    __tablename__ = "script_runs"
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("script_versions.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    current_step: Mapped[str | None] = mapped_column(String(40))
    answers: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")  # in_progress, completed, abandoned
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]


# --- agenda: callbacks and follow-ups (migration 0010) ---
class AgendaItem(Base):
    """A callback or follow-up an agent scheduled on a conversation: at ``due_at`` (UTC) the
    ``agenda.due`` job reopens the conversation and routes it to ``owner_id`` when they are
    online with room, otherwise into a queue (``services/agenda.py``)."""

    __tablename__ = "agenda_items"
    __table_args__ = (
        Index("ix_agenda_items_tenant_status_due", "tenant_id", "status", "due_at"),
        Index("ix_agenda_items_tenant_owner_due", "tenant_id", "owner_id", "due_at"),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # callback, follow_up
    channel: Mapped[str] = mapped_column(String(32))  # "phone" (a call) or the inbox's channel
    inbox_id: Mapped[int | None] = mapped_column(ForeignKey("inboxes.id", ondelete="SET NULL"))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))  # where it goes if the owner is away
    due_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="scheduled")  # scheduled, due, done, cancelled, missed
    # What happened at the due time: offered / assigned (to routed_user_id), queued (in routed_queue_id), unassigned, or why it was missed.
    outcome: Mapped[str | None] = mapped_column(String(32))
    routed_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    routed_queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    fired_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- side-panel apps (migration 0011) ---


class SidePanelApp(Base):
    """An iframe app (e.g. a CRM) shown beside conversations; it receives the context by postMessage,
    with a token signed by ``secret_encrypted`` (sealed like inbox secrets) so it can trust it."""

    __tablename__ = "side_panel_apps"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_side_panel_apps_tenant_name"),
        Index("uq_side_panel_apps_tenant_name_key", "tenant_id", "name_key", unique=True),
    )
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Optional parts of the context the app receives (ids, status and channel always go).
    share: Mapped[list[Any]] = mapped_column(default=list)
    # Shown only for conversations of these inboxes / routed through these queues (empty: all).
    inbox_ids: Mapped[list[Any]] = mapped_column(default=list)
    queue_ids: Mapped[list[Any]] = mapped_column(default=list)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    name_key: Mapped[str | None] = _folded("name")

    @validates("name")
    def _fold(self, key: str, value: str | None) -> str | None:
        setattr(self, f"{key}_key", fold_name(value))
        return value



# --- inbox search, team and queue views (migration 0012) ---


class SearchEntry(Base):
    """One searchable document: a message's text, a conversation's subject, or a contact's name and
    identities, as folded words (``domain/search.index_body``). Kept in step with those rows by
    ``adapters/store/search_index.py``; the full-text index over ``body`` is backend-specific and
    created by migration 0012 (PostgreSQL: the generated column ``tsv = to_tsvector('simple', body)``
    with a GIN index; SQLite: the FTS5 table ``search_fts``), so it is not declared here (see
    ``SEARCH_INDEX_OBJECTS``)."""

    __tablename__ = "search_entries"
    __table_args__ = (Index("ix_search_entries_conversation_kind", "conversation_id", "kind"),)
    id: Mapped[int] = _id()
    tenant_id: Mapped[int] = _tenant()
    kind: Mapped[str] = mapped_column(String(16))  # message, subject, contact
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), unique=True)
    body: Mapped[str] = mapped_column(Text, default="")


# The inbox views walk a tenant's conversations newest first: "mine" and "unassigned" by assignee,
# "my teams" by team, each in activity order, so a view reads its own rows only (bench/desktop.py).
Index("ix_conversations_tenant_assignee_activity", Conversation.tenant_id, Conversation.assignee_id, Conversation.last_activity_at, Conversation.id)
Index("ix_conversations_tenant_team_activity", Conversation.tenant_id, Conversation.team_id, Conversation.last_activity_at, Conversation.id)


# Created by migration 0012 outside the models (FTS5 virtual table and its shadow tables, the GIN
# expression index): schema comparisons leave them out (``include_schema_name``).
SEARCH_INDEX_OBJECTS = frozenset({"search_fts", "search_fts_data", "search_fts_idx", "search_fts_docsize", "search_fts_config", "ix_search_entries_fts", "ix_search_entries_contact_fts"})


def include_schema_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: everything but the backend-specific search index objects."""
    if type_ == "column":
        return not (name == "tsv" and parent_names.get("table_name") == "search_entries")
    return name not in SEARCH_INDEX_OBJECTS
