"""Tables of the central record: contacts and their identities, merge suggestions, conversations,
labels, messages, attachments, the timeline and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from raccordo.platform.store.models import Base, BigId, id_column, tenant_column, utcnow


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
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
    identities: Mapped[list[ContactIdentity]] = relationship(
        lazy="select", order_by="ContactIdentity.id", viewonly=True
    )


def _email_local_part(row: dict[str, Any]) -> str | None:
    return str(row["value"]).split("@", 1)[0] if row.get("kind") == "email" else None


class ContactIdentity(Base):
    __tablename__ = "contact_identities"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "value", name="uq_identity_per_tenant"),
        Index("ix_identity_match_key", "tenant_id", "match_key"),
    )
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(320))
    # The email's local part, so "same user at another domain" is an index lookup, not a LIKE scan.
    match_key: Mapped[str | None] = mapped_column(
        String(320), default=lambda context: _email_local_part(context.get_current_parameters())
    )
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MergeSuggestion(Base):
    __tablename__ = "merge_suggestions"
    __table_args__ = (UniqueConstraint("tenant_id", "contact_a_id", "contact_b_id", name="uq_suggestion_pair"),)
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    contact_a_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )  # always the lower id
    contact_b_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    score: Mapped[float]
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, merged, dismissed
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_tenant_activity", "tenant_id", "last_activity_at", "id"),)
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
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
    tenant_id: Mapped[int] = tenant_column()


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("inbox_id", "provider_message_id", name="uq_message_provider_id"),
        Index("ix_messages_conversation", "conversation_id", "id"),
        # The messages whose search entry is still to write (``desk.search_index``: after commit).
        Index(
            "ix_messages_search_pending",
            "id",
            postgresql_where=text("search_pending"),
            sqlite_where=text("search_pending"),
        ),
    )
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
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
    # True: its search entry is written after the commit (ingest), by the process that stored it or
    # else by the worker's sweep; NULL once written (or for messages indexed in their own transaction).
    search_pending: Mapped[bool | None] = mapped_column(Boolean)
    attachments: Mapped[list[Attachment]] = relationship(lazy="selectin", order_by="Attachment.id", viewonly=True)


class HeldDeliveryReport(Base):
    """A provider's status for an outbound message whose provider id is not recorded yet (the status
    webhook raced the outbox's answer from the provider): applied when the send is recorded
    (``record/services/ingest.apply_held_reports``), dropped after a day."""

    __tablename__ = "held_delivery_reports"
    __table_args__ = (Index("ix_held_delivery_reports_lookup", "inbox_id", "provider_message_id"),)
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    provider_message_id: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    reason_key: Mapped[str | None] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    report_id: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Attachment(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_path: Mapped[str] = mapped_column(String(500))  # relative to the attachments directory
    # Set for an inline part that the message's HTML shows as cid:<content_id> (email).
    content_id: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TimelineEvent(Base):
    """Append-only history of a contact and its conversations."""

    __tablename__ = "timeline_events"
    __table_args__ = (
        Index("ix_timeline_contact", "contact_id", "id"),
        Index("ix_timeline_conversation", "conversation_id", "id"),
    )
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
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
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(BigId)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    client_address: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# The inbox views walk a tenant's conversations newest first: "mine" and "unassigned" by assignee,
# "my teams" by team, each in activity order, so a view reads its own rows only (bench/desktop.py).
Index(
    "ix_conversations_tenant_assignee_activity",
    Conversation.tenant_id,
    Conversation.assignee_id,
    Conversation.last_activity_at,
    Conversation.id,
)
Index(
    "ix_conversations_tenant_team_activity",
    Conversation.tenant_id,
    Conversation.team_id,
    Conversation.last_activity_at,
    Conversation.id,
)
