"""Tables of routing: skills, capacities, queues and members, rules, queue items, routing events,
requests and state, SLA policies and clocks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, validates

from raccordo.platform.store.models import Base, JSONType, fold_name, folded_key, id_column, tenant_column, utcnow


class Skill(Base):
    __tablename__ = "skills"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name", name="uq_skills_tenant_name"),
        Index("uq_skills_tenant_name_key", "tenant_id", "name_key", unique=True),
    )
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    name_key: Mapped[str | None] = folded_key("name")

    @validates("name")
    def _fold(self, key: str, value: str | None) -> str | None:
        setattr(self, f"{key}_key", fold_name(value))
        return value


class AgentSkill(Base):
    """An agent's level (1-5) in a skill."""

    __tablename__ = "agent_skills"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = tenant_column()
    level: Mapped[int] = mapped_column(Integer)


class AgentCapacity(Base):
    """How many conversations an agent takes at once per channel; exclusive channels take the whole agent."""

    __tablename__ = "agent_capacity"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tenant_id: Mapped[int] = tenant_column()
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    exclusive: Mapped[list[Any]] = mapped_column(default=list)
    last_routed_at: Mapped[datetime | None]


class RoutingQueue(Base):
    __tablename__ = "queues"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_queues_tenant_name"),)
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
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
    tenant_id: Mapped[int] = tenant_column()


class RoutingRule(Base):
    """Evaluated in ``position`` order on a conversation; the first match puts it into ``queue_id``."""

    __tablename__ = "routing_rules"
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
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
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
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
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # queued, offered, accepted, declined, offer_expired, assigned, first_response, transferred,
    # overflowed, abandoned, resolved
    kind: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RoutingRequest(Base):
    """ "Route this tenant again": appended by any change that may allow an assignment, consumed by a pass."""

    __tablename__ = "routing_requests"
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoutingState(Base):
    """One row per tenant: locked by the process routing it; ``next_run_at`` for time-based changes."""

    __tablename__ = "routing_state"
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    last_run_at: Mapped[datetime | None]


class SlaPolicy(Base):
    """Targets for first response, next response and resolution, in business hours; the first
    active policy (by position) whose conditions hold applies to a conversation."""

    __tablename__ = "sla_policies"
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    conditions: Mapped[list[Any]] = mapped_column(
        default=list
    )  # same format as routing rules (priority, channel, queue_id, ...)
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    next_response_seconds: Mapped[int | None] = mapped_column(Integer)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)
    warn_before_seconds: Mapped[int] = mapped_column(Integer, default=0)
    business_hours: Mapped[dict[str, Any] | None] = mapped_column(JSONType)  # null: counted around the clock
    actions: Mapped[dict[str, Any]] = mapped_column(
        default=dict
    )  # {"raise_priority": true, "notify_supervisors": true, "reassign": false}
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaClock(Base):
    """One target running on one conversation: due at ``due_at`` unless paused, met or breached."""

    __tablename__ = "sla_clocks"
    __table_args__ = (Index("ix_sla_clocks_conversation", "conversation_id", "metric"),)
    id: Mapped[int] = id_column()
    tenant_id: Mapped[int] = tenant_column()
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
