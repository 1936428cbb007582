"""API shapes of the record: contacts, identities, merges, the timeline, conversations, messages,
attachments, replies and notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from raccordo.platform.web.schemas import FromRows, Id, Strict


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
    other_id: Id = Field(
        description="The contact merged into this one; its identities, conversations and timeline move here."
    )


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
    wrap_up_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description=(
            "The outcome, one of /wrap-up-codes; required on resolve when a queue the conversation "
            "went through says so."
        ),
    )


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
    content_attributes: dict[str, Any] | None = Field(
        default=None,
        description="Structured content the inbox's channel sends instead of free text, e.g. a WhatsApp "
        '`{"template": {"name", "language", "variables"}}` or `{"interactive": {...}}` '
        "(docs/channels/whatsapp.md); the stored text is what the customer reads.",
    )


class NoteIn(BaseModel):
    model_config = Strict
    text: str = Field(min_length=1, max_length=100_000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
