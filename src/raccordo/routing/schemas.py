"""API shapes of routing: skills, queues and members, agents' routing settings, rules, offers,
transfers, routing events, SLA policies and clocks."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from raccordo.platform.web.schemas import FromRows, NoNullPatch, Strict


class SkillIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=64)


class SkillOut(BaseModel):
    model_config = FromRows
    id: int
    name: str


class RelaxStepIn(BaseModel):
    model_config = Strict
    after_seconds: float = Field(ge=0, le=7 * 24 * 3600)
    drop_levels: int | None = Field(
        default=None, ge=1, le=4, description="Lower required levels by this much; null: any agent of the queue."
    )


class QueueIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=100)
    strategy: Literal["longest_idle", "least_occupied", "round_robin", "best_skill"] = "longest_idle"
    offer_timeout_seconds: int | None = Field(
        default=None, ge=1, le=3600, description="Offer with this timeout; null assigns directly."
    )
    ageing_per_minute: float = Field(default=0.0, ge=0, le=100)
    ageing_cap: float = Field(default=0.0, ge=0, le=1000)
    relax: list[RelaxStepIn] = Field(default_factory=list, max_length=10)
    decline_cooldown_seconds: int = Field(default=300, ge=0, le=86400)
    preferred_agent_seconds: int = Field(
        default=0,
        ge=0,
        le=86400,
        description="Hold a returning customer's conversation this long for the agent who served them last.",
    )
    preferred_agent_hours: int = Field(default=72, ge=1, le=24 * 365)
    overflow_after_seconds: int | None = Field(default=None, ge=1, le=7 * 86400)
    overflow_queue_id: int | None = Field(default=None, ge=1)
    business_hours: dict[str, Any] | None = None
    out_of_hours_action: Literal["keep", "message", "callback"] = "keep"
    out_of_hours_message: str | None = Field(default=None, max_length=2000)
    requires_wrap_up: bool = Field(
        default=False, description="Resolving a conversation routed through this queue needs a wrap-up code."
    )
    active: bool = True


class QueuePatch(NoNullPatch):
    model_config = Strict
    nullable: ClassVar[frozenset[str]] = frozenset(
        {
            "offer_timeout_seconds",
            "overflow_after_seconds",
            "overflow_queue_id",
            "business_hours",
            "out_of_hours_message",
        }
    )
    name: str | None = Field(default=None, min_length=1, max_length=100)
    strategy: Literal["longest_idle", "least_occupied", "round_robin", "best_skill"] | None = None
    offer_timeout_seconds: int | None = Field(default=None, ge=1, le=3600)
    ageing_per_minute: float | None = Field(default=None, ge=0, le=100)
    ageing_cap: float | None = Field(default=None, ge=0, le=1000)
    relax: list[RelaxStepIn] | None = Field(default=None, max_length=10)
    decline_cooldown_seconds: int | None = Field(default=None, ge=0, le=86400)
    preferred_agent_seconds: int | None = Field(default=None, ge=0, le=86400)
    preferred_agent_hours: int | None = Field(default=None, ge=1, le=24 * 365)
    overflow_after_seconds: int | None = Field(default=None, ge=1, le=7 * 86400)
    overflow_queue_id: int | None = Field(default=None, ge=1)
    business_hours: dict[str, Any] | None = None
    out_of_hours_action: Literal["keep", "message", "callback"] | None = None
    out_of_hours_message: str | None = Field(default=None, max_length=2000)
    requires_wrap_up: bool | None = None
    active: bool | None = None


class QueueOut(BaseModel):
    model_config = FromRows
    id: int
    name: str
    strategy: str
    offer_timeout_seconds: int | None
    ageing_per_minute: float
    ageing_cap: float
    relax: list[dict[str, Any]]
    decline_cooldown_seconds: int
    preferred_agent_seconds: int
    preferred_agent_hours: int
    overflow_after_seconds: int | None
    overflow_queue_id: int | None
    business_hours: dict[str, Any] | None
    out_of_hours_action: str
    out_of_hours_message: str | None
    requires_wrap_up: bool = False
    active: bool
    member_ids: list[int] = []


class MembersIn(BaseModel):
    model_config = Strict
    user_ids: list[int] = Field(max_length=5000)


class AgentRoutingIn(BaseModel):
    model_config = Strict
    skills: dict[str, int] | None = Field(
        default=None, description="Skill name -> level 1-5; replaces the agent's skills."
    )
    capacity: dict[str, int] | None = Field(
        default=None, description="Channel -> conversations at once; channels not named take the channel's default."
    )
    exclusive: list[str] | None = Field(default=None, description="Channels that take the agent's whole attention.")
    queue_ids: list[int] | None = None


class AgentRoutingOut(BaseModel):
    user_id: int
    skills: dict[str, int]
    capacity: dict[str, int]
    exclusive: list[str]
    queue_ids: list[int]


class RoutingRuleIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=100)
    position: int = Field(default=0, ge=0, le=100000)
    conditions: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=50,
        description='All must hold, e.g. [{"field": "contact.vip", "op": "eq", "value": true}]',
    )
    queue_id: int = Field(ge=1)
    priority: int = Field(default=0, ge=-100, le=100)
    required_skills: dict[str, int] = Field(default_factory=dict)
    active: bool = True


class RoutingRulePatch(NoNullPatch):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=100)
    position: int | None = Field(default=None, ge=0, le=100000)
    conditions: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    queue_id: int | None = Field(default=None, ge=1)
    priority: int | None = Field(default=None, ge=-100, le=100)
    required_skills: dict[str, int] | None = None
    active: bool | None = None


class RoutingRuleOut(BaseModel):
    model_config = FromRows
    id: int
    name: str
    position: int
    conditions: list[dict[str, Any]]
    queue_id: int
    priority: int
    required_skills: dict[str, int]
    active: bool


class OfferOut(BaseModel):
    model_config = FromRows
    conversation_id: int
    queue_id: int
    channel: str
    priority: int
    offer_expires_at: datetime | None
    enqueued_at: datetime


class DeclineIn(BaseModel):
    model_config = Strict
    reason: str | None = Field(default=None, max_length=200)


class TransferIn(BaseModel):
    model_config = Strict
    user_id: int | None = Field(default=None, ge=1)
    team_id: int | None = Field(default=None, ge=1)
    queue_id: int | None = Field(default=None, ge=1)
    note: str | None = Field(default=None, max_length=10000)


class RoutingEventOut(BaseModel):
    model_config = FromRows
    id: int
    kind: str
    queue_id: int | None
    user_id: int | None
    at: datetime
    data: dict[str, Any]


class SlaPolicyIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=100)
    position: int = Field(default=0, ge=0, le=100000)
    conditions: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=50,
        description=(
            'Same format as routing rules; e.g. [{"field": "priority", "op": "in", "value": ["high", "urgent"]}]'
        ),
    )
    first_response_seconds: int | None = Field(default=None, ge=1, le=90 * 86400)
    next_response_seconds: int | None = Field(default=None, ge=1, le=90 * 86400)
    resolution_seconds: int | None = Field(default=None, ge=1, le=365 * 86400)
    warn_before_seconds: int = Field(default=0, ge=0, le=30 * 86400)
    business_hours: dict[str, Any] | None = Field(
        default=None, description="Counted in these hours; null counts around the clock."
    )
    actions: dict[str, bool] = Field(default_factory=dict, description="raise_priority, notify_supervisors, reassign")
    active: bool = True


class SlaPolicyPatch(NoNullPatch):
    model_config = Strict
    nullable: ClassVar[frozenset[str]] = frozenset(
        {"first_response_seconds", "next_response_seconds", "resolution_seconds", "business_hours"}
    )
    name: str | None = Field(default=None, min_length=1, max_length=100)
    position: int | None = Field(default=None, ge=0, le=100000)
    conditions: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    first_response_seconds: int | None = Field(default=None, ge=1, le=90 * 86400)
    next_response_seconds: int | None = Field(default=None, ge=1, le=90 * 86400)
    resolution_seconds: int | None = Field(default=None, ge=1, le=365 * 86400)
    warn_before_seconds: int | None = Field(default=None, ge=0, le=30 * 86400)
    business_hours: dict[str, Any] | None = None
    actions: dict[str, bool] | None = None
    active: bool | None = None


class SlaPolicyOut(BaseModel):
    model_config = FromRows
    id: int
    name: str
    position: int
    conditions: list[dict[str, Any]]
    first_response_seconds: int | None
    next_response_seconds: int | None
    resolution_seconds: int | None
    warn_before_seconds: int
    business_hours: dict[str, Any] | None
    actions: dict[str, bool]
    active: bool


class SlaClockOut(BaseModel):
    model_config = FromRows
    id: int
    policy_id: int | None
    metric: str
    target_seconds: int
    status: str
    started_at: datetime
    due_at: datetime | None
    elapsed_seconds: float
    warned_at: datetime | None
    breached_at: datetime | None
    stopped_at: datetime | None
