"""The Vonage Messages API webhook body, as far as the channel reads it (inbound SMS and status)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class VonageWebhook(BaseModel):
    """One inbound message or one status (https://developer.vonage.com/en/api/messages#webhooks)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    message_uuid: str = Field(min_length=1, max_length=100)
    channel: str = "sms"
    to: str | None = None
    from_: str | None = Field(default=None, alias="from")
    timestamp: str | None = None
    message_type: str | None = None
    text: str | None = Field(default=None, max_length=10000)
    status: str | None = None
    sms: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    client_ref: str | None = None
