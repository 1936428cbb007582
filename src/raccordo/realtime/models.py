"""Tables of realtime: agent presence and live connections."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from raccordo.platform.store.models import Base, tenant_column, utcnow


class AgentPresence(Base):
    """An agent's chosen state; "online" needs at least one live connection, see AgentConnection."""

    __tablename__ = "agent_presence"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = tenant_column()
    status: Mapped[str] = mapped_column(String(16), default="offline")  # online, away, offline
    reason: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgentConnection(Base):
    """One open WebSocket of an agent (a browser tab), on one node, kept alive by heartbeats."""

    __tablename__ = "agent_connections"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = tenant_column()
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    node: Mapped[str] = mapped_column(String(64))
    connected_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
