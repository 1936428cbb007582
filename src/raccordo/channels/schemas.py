"""API shapes of channels: inboxes (settings, write-only secrets, the inbound URL) and the webhook answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from raccordo.platform.web.schemas import Strict


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


class InboundAccepted(BaseModel):
    raw_id: int
    message_ids: list[int]
    duplicates: int
