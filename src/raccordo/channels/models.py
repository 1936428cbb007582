"""Tables of channels: inboxes, the raw inbound requests and the rejected ones, the outbox, mailbox leases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from raccordo.platform.store.models import Base, id_column, tenant_column, utcnow


class Inbox(Base):
    __tablename__ = "inboxes"
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32))
    # Public identifier used in webhook URLs, so internal ids are not exposed to providers.
    identifier: Mapped[str] = mapped_column(String(64), unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets_encrypted: Mapped[str | None] = mapped_column(Text)
    business_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RawInbound(Base):
    """Every inbound payload, stored before it is acknowledged and kept for inspection."""

    __tablename__ = "raw_inbound"
    __table_args__ = (
        Index("ix_raw_inbound_status", "status", "received_at"),
        Index("ix_raw_inbound_retention", "status", "processed_at"),
    )
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
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
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(String(64))
    remote: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64))


class OutboxItem(Base):
    """An outbound send waiting for (or done by) a worker. The idempotency key travels to the provider."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "due_at"),)
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
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


class MailboxLease(Base):
    """Which process polls an inbox's mailbox now (one at a time), and how the last poll went."""

    __tablename__ = "mailbox_leases"
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inboxes.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = tenant_column()
    owner: Mapped[str | None] = mapped_column(String(64))
    leased_until: Mapped[datetime | None]
    last_poll_at: Mapped[datetime | None]
    last_ok_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    fetched: Mapped[int] = mapped_column(BigInteger, default=0)
