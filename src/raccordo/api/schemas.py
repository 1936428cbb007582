"""Request and response bodies of the REST API (they make the OpenAPI document at /docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

# Every id the API accepts fits the databases' 64-bit keys; larger ones are a clean 422, not a 500.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]

Strict = ConfigDict(extra="forbid")
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


class TenantPatch(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, min_length=1, max_length=200)
    default_region: str | None = Field(default=None, min_length=2, max_length=2)
    default_language: Literal["it", "en"] | None = None
    continuity_across_channels: bool | None = None
    reopen_window_hours: float | None = Field(default=None, ge=0, le=24 * 365)


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


