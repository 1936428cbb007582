"""Request and response bodies of the REST API (they make the OpenAPI document at /docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

# Every id the API accepts fits the databases' 64-bit keys; larger ones are a clean 422, not a 500.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

Strict = ConfigDict(extra="forbid")


class NoNullPatch(BaseModel):
    """A PATCH body where ``null`` is refused (422) except for the fields in ``nullable``, whose
    ``null`` means "none" (no offer timeout, no overflow...). Omitting a field leaves it unchanged."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_nulls(self) -> Self:
        for name in sorted(self.model_fields_set - self.nullable):
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null: omit it to keep the current value")
        return self
FromRows = ConfigDict(from_attributes=True)


class LoginIn(BaseModel):
    model_config = Strict
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    tenant: str | None = Field(default=None, max_length=64, description="Organization slug; needed only when the email belongs to several.")


class UserOut(BaseModel):
    model_config = FromRows
    id: int
    email: str
    name: str
    role: str
    language: str
    active: bool
    created_at: datetime


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str
    expires_at: datetime


class TenantOut(BaseModel):
    id: int
    slug: str
    name: str
    default_region: str
    default_language: str
    continuity_across_channels: bool = Field(description="A customer's message on another channel joins their open conversation.")
    reopen_window_hours: float = Field(description="A resolved conversation reopens when the customer writes within this many hours.")
    timezone: str = Field(description="The organization's timezone: the desktop shows times in it (Europe/Rome when not set).")


class TenantPatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=200)
    default_region: str | None = Field(default=None, min_length=2, max_length=2)
    default_language: Literal["it", "en"] | None = None
    continuity_across_channels: bool | None = None
    reopen_window_hours: float | None = Field(default=None, ge=0, le=24 * 365)
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone (Europe/Rome): the desktop shows times in it and agenda times are entered in it.")


class MeOut(BaseModel):
    user: UserOut
    tenant: dict[str, Any]
    team_ids: list[int]


class UserIn(BaseModel):
    model_config = Strict
    email: str = Field(max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Literal["owner", "admin", "supervisor", "agent"]
    password: str | None = Field(default=None, max_length=1024)
    language: Literal["it", "en"] = "it"


class ProfilePatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=200)
    language: Literal["it", "en"] | None = None


class PasswordChangeIn(BaseModel):
    model_config = Strict
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class UserPatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Literal["owner", "admin", "supervisor", "agent"] | None = None
    language: Literal["it", "en"] | None = None
    active: bool | None = None
    password: str | None = Field(default=None, max_length=1024)


class TokenIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    model_config = FromRows
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once; store it now.")


class TeamIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    member_ids: list[Id] = Field(default_factory=list)


class TeamPatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class TeamMembersIn(BaseModel):
    model_config = Strict
    user_ids: list[Id]


class TeamOut(BaseModel):
    id: int
    name: str
    description: str
    member_ids: list[int]


class InboxIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=200)
    channel: str = Field(min_length=1, max_length=32)
    settings: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict, description="Write-only; encrypted at rest.")
    business_hours: dict[str, Any] | None = None


class InboxPatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None
    secrets: dict[str, str] | None = None
    business_hours: dict[str, Any] | None = None
    active: bool | None = None


class InboxOut(BaseModel):
    id: int
    name: str
    channel: str
    identifier: str
    settings: dict[str, Any]
    secret_names: list[str]
    business_hours: dict[str, Any]
    active: bool
    inbound_url: str | None
    created_at: datetime


class InboxCreated(InboxOut):
    secrets: dict[str, str] = Field(description="Shown once, including generated ones such as the HMAC secret.")


class IdentityIn(BaseModel):
    model_config = Strict
    kind: str = Field(max_length=32)
    value: str = Field(max_length=320)
    verified: bool = False


class IdentityOut(BaseModel):
    model_config = FromRows
    id: int
    kind: str
    value: str
    verified: bool


class ContactIn(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, max_length=300)
    language: str | None = Field(default=None, max_length=8)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)
    custom_attributes: dict[str, Any] = Field(default_factory=dict)


class ContactPatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, max_length=300)
    language: str | None = Field(default=None, max_length=8)
    custom_attributes: dict[str, Any] | None = None
    consent: dict[str, bool] | None = None


class ContactOut(BaseModel):
    model_config = FromRows
    id: int
    name: str | None
    language: str | None
    custom_attributes: dict[str, Any]
    consent: dict[str, Any]
    merged_into_id: int | None
    identities: list[IdentityOut]
    created_at: datetime
    updated_at: datetime


class MergeIn(BaseModel):
    model_config = Strict
    other_id: Id = Field(description="The contact merged into this one; its identities, conversations and timeline move here.")


class SuggestionOut(BaseModel):
    model_config = FromRows
    id: int
    contact_a_id: int
    contact_b_id: int
    reasons: list[str]
    score: float
    status: str
    created_at: datetime


class TimelineOut(BaseModel):
    model_config = FromRows
    id: int
    contact_id: int
    conversation_id: int | None
    kind: str
    actor_type: str
    actor_id: int | None
    data: dict[str, Any]
    created_at: datetime


class ConversationOut(BaseModel):
    model_config = FromRows
    id: int
    contact_id: int
    status: str
    priority: str
    subject: str | None
    assignee_id: int | None
    team_id: int | None
    labels: list[str]
    custom_attributes: dict[str, Any]
    last_channel: str | None
    last_inbox_id: int | None
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    last_customer_message_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    snoozed_until: datetime | None
    wrap_up_code: str | None = None


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class ConversationPatch(BaseModel):
    model_config = Strict
    status: Literal["open", "pending", "snoozed", "resolved", "closed"] | None = None
    assignee_id: Id | None = None
    team_id: Id | None = None
    labels: list[str] | None = Field(default=None, max_length=50)
    priority: Literal["none", "low", "medium", "high", "urgent"] | None = None
    subject: str | None = Field(default=None, max_length=500)
    snoozed_until: datetime | None = None
    wrap_up_code: str | None = Field(default=None, min_length=1, max_length=64, description="The outcome, one of /wrap-up-codes; required on resolve when a queue the conversation went through says so.")


class AttachmentOut(BaseModel):
    model_config = FromRows
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str


class MessageOut(BaseModel):
    model_config = FromRows
    id: int
    conversation_id: int
    direction: str
    channel: str | None
    inbox_id: int | None
    sender_type: str
    sender_id: int | None
    text: str
    html: str | None
    content_attributes: dict[str, Any]
    provider_message_id: str | None
    delivery_status: str
    delivery_error: str | None
    attachments: list[AttachmentOut]
    created_at: datetime


class AttachmentIn(BaseModel):
    model_config = Strict
    filename: str = Field(min_length=1, max_length=300)
    content_type: str = Field(default="application/octet-stream", max_length=200)
    data_base64: str


class ReplyIn(BaseModel):
    model_config = Strict
    text: str = Field(default="", max_length=100_000)
    html: str | None = Field(default=None, max_length=1_000_000)
    inbox_id: Id | None = Field(default=None, description="Inbox (channel) to answer on; default: the customer's last.")
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)


class NoteIn(BaseModel):
    model_config = Strict
    text: str = Field(min_length=1, max_length=100_000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)


class InboundAccepted(BaseModel):
    raw_id: int
    message_ids: list[int]
    duplicates: int


class AuditOut(BaseModel):
    model_config = FromRows
    id: int
    user_id: int | None
    action: str
    target_type: str
    target_id: int | None
    data: dict[str, Any]
    client_address: str | None
    created_at: datetime




# --- routing ---------------------------------------------------------------------------------------


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
    drop_levels: int | None = Field(default=None, ge=1, le=4, description="Lower required levels by this much; null: any agent of the queue.")


class QueueIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=100)
    strategy: Literal["longest_idle", "least_occupied", "round_robin", "best_skill"] = "longest_idle"
    offer_timeout_seconds: int | None = Field(default=None, ge=1, le=3600, description="Offer with this timeout; null assigns directly.")
    ageing_per_minute: float = Field(default=0.0, ge=0, le=100)
    ageing_cap: float = Field(default=0.0, ge=0, le=1000)
    relax: list[RelaxStepIn] = Field(default_factory=list, max_length=10)
    decline_cooldown_seconds: int = Field(default=300, ge=0, le=86400)
    preferred_agent_seconds: int = Field(default=0, ge=0, le=86400, description="Hold a returning customer's conversation this long for the agent who served them last.")
    preferred_agent_hours: int = Field(default=72, ge=1, le=24 * 365)
    overflow_after_seconds: int | None = Field(default=None, ge=1, le=7 * 86400)
    overflow_queue_id: int | None = Field(default=None, ge=1)
    business_hours: dict[str, Any] | None = None
    out_of_hours_action: Literal["keep", "message", "callback"] = "keep"
    out_of_hours_message: str | None = Field(default=None, max_length=2000)
    requires_wrap_up: bool = Field(default=False, description="Resolving a conversation routed through this queue needs a wrap-up code.")
    active: bool = True


class QueuePatch(NoNullPatch):
    model_config = Strict
    nullable: ClassVar[frozenset[str]] = frozenset({"offer_timeout_seconds", "overflow_after_seconds", "overflow_queue_id", "business_hours", "out_of_hours_message"})
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
    skills: dict[str, int] | None = Field(default=None, description="Skill name -> level 1-5; replaces the agent's skills.")
    capacity: dict[str, int] | None = Field(default=None, description="Channel -> conversations at once; channels not named take the channel's default.")
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
    conditions: list[dict[str, Any]] = Field(default_factory=list, max_length=50, description='All must hold, e.g. [{"field": "contact.vip", "op": "eq", "value": true}]')
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
    conditions: list[dict[str, Any]] = Field(default_factory=list, max_length=50, description='Same format as routing rules; e.g. [{"field": "priority", "op": "in", "value": ["high", "urgent"]}]')
    first_response_seconds: int | None = Field(default=None, ge=1, le=90 * 86400)
    next_response_seconds: int | None = Field(default=None, ge=1, le=90 * 86400)
    resolution_seconds: int | None = Field(default=None, ge=1, le=365 * 86400)
    warn_before_seconds: int = Field(default=0, ge=0, le=30 * 86400)
    business_hours: dict[str, Any] | None = Field(default=None, description="Counted in these hours; null counts around the clock.")
    actions: dict[str, bool] = Field(default_factory=dict, description="raise_priority, notify_supervisors, reassign")
    active: bool = True


class SlaPolicyPatch(NoNullPatch):
    model_config = Strict
    nullable: ClassVar[frozenset[str]] = frozenset({"first_response_seconds", "next_response_seconds", "resolution_seconds", "business_hours"})
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


# --- answer templates and wrap-up codes ------------------------------------------------------------


class TemplateIn(BaseModel):
    model_config = Strict
    name: str = Field(min_length=1, max_length=100)
    shortcut: str = Field(min_length=1, max_length=32, description="Typed after / in the composer: lowercase letters, digits, - and _.")
    body: str = Field(min_length=1, max_length=10_000, description="Text with variables such as {{contact.first_name}}, {{contact.name}}, {{agent.name}}; undefined ones render empty.")
    bodies: dict[str, str] = Field(default_factory=dict, description="Optional other versions, keyed by language (\"it\", \"en\": the contact's), channel (\"email\": the one the agent answers on) or both (\"email:it\"); the most specific that fits is used, else body.")
    active: bool = True


class TemplatePatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=100)
    shortcut: str | None = Field(default=None, min_length=1, max_length=32)
    body: str | None = Field(default=None, min_length=1, max_length=10_000)
    bodies: dict[str, str] | None = Field(default=None, description="Replaces every other version; keys as in TemplateIn.")
    active: bool | None = None


class TemplateOut(BaseModel):
    model_config = FromRows
    id: int
    name: str
    shortcut: str
    body: str
    bodies: dict[str, str]
    active: bool
    created_at: datetime
    updated_at: datetime


class RenderedTemplateOut(BaseModel):
    model_config = FromRows
    id: int
    name: str
    shortcut: str
    language: str | None = Field(description="The language of the body used; null: the default body or a channel's.")
    text: str
    variant: str | None = Field(default=None, description="The key of the version used (\"email:it\", \"email\", \"it\"); null: the default body.")


class WrapUpCodeIn(BaseModel):
    model_config = Strict
    code: str = Field(min_length=1, max_length=64, description="Stored on the conversation: letters, digits, _ . and -.")
    label: str = Field(min_length=1, max_length=200)
    active: bool = True


class WrapUpCodePatch(BaseModel):
    model_config = Strict
    code: str | None = Field(default=None, min_length=1, max_length=64)
    label: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = None


class WrapUpCodeOut(BaseModel):
    model_config = FromRows
    id: int
    code: str
    label: str
    active: bool
    created_at: datetime
