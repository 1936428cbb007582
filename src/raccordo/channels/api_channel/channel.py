"""The API channel: an integrator posts customer messages over REST and receives replies on a signed callback.

Inbound: ``POST /api/v1/channels/api/{inbox identifier}/messages`` signed with the
inbox's ``hmac_secret`` (see ``signing``). Outbound: a signed JSON POST to the inbox's
``callback_url``, with an ``Idempotency-Key`` header so a retried send is recognized.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from pydantic import BaseModel, ConfigDict, Field

from raccordo.channels import signing
from raccordo.channels.base import (
    Capabilities,
    Channel,
    ChannelRejected,
    DeliveryError,
    DeliveryReport,
    Feature,
    InboundAttachment,
    InboundEvent,
    InboundIdentity,
    InboundRequest,
    InboxConfig,
    OutboundAttachment,
    OutboundMessage,
    decode_attachment,
    parse_payload,
)
from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.domain.retry import retry_after_seconds
from raccordo.channels.domain.settings_form import FieldKind, Label, SettingsField, SettingsForm
from raccordo.platform.errors import InvalidInput


class _Identity(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    value: str
    verified: bool = False


class _Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=300)
    language: str | None = Field(default=None, max_length=8)
    identities: list[_Identity] = Field(min_length=1, max_length=20)


class _Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=300)
    content_type: str = Field(default="application/octet-stream", max_length=200)
    data_base64: str


class InboundPayload(BaseModel):
    """Body of an inbound API-channel message."""

    model_config = ConfigDict(extra="forbid")
    message_id: str = Field(
        min_length=1, max_length=500, description="Your id for this message; resending it is a no-op."
    )
    contact: _Contact
    text: str = Field(default="", max_length=100_000)
    html: str | None = Field(default=None, max_length=1_000_000)
    subject: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = None
    attachments: list[_Attachment] = Field(default_factory=list, max_length=20)
    attributes: dict[str, Any] = Field(default_factory=dict)


def _attachment_out(attachment: OutboundAttachment) -> dict[str, Any]:
    data = Path(attachment.path).read_bytes()
    return {
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": len(data),
        "data_base64": base64.b64encode(data).decode(),
    }


class ApiChannel(Channel):
    kind = "api"
    capabilities = Capabilities(text=True, html=True)
    features = frozenset({Feature.WEBHOOK})
    settings_form = SettingsForm(
        fields=(SettingsField("callback_url", Label("Callback URL", "URL di callback"), FieldKind.URL),),
        shown_once=(
            SettingsField("hmac_secret", Label("HMAC secret", "Segreto HMAC"), FieldKind.SECRET, generated=True),
        ),
        extra_settings=("timeout_seconds",),
    )
    # Attachments travel base64 in the callback, so their size is the installation's upload limit.
    composer = ComposerRules(max_length=100_000, attachments=True, max_attachments=20)
    reply_identity_kinds = (
        "external",
        "email",
        "phone",
        "whatsapp",
        "telegram",
        "messenger",
        "instagram",
        "web_visitor",
    )

    def validate_settings(
        self, settings: dict[str, Any], secrets_: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        callback = settings.get("callback_url")
        if callback:
            parsed = urlparse(str(callback))
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise InvalidInput("inbox.callback_url_invalid", field="settings.callback_url", value=str(callback))
        return self.settings_form.validate(settings, secrets_)

    def parse_inbound(self, inbox: InboxConfig, request: InboundRequest) -> list[InboundEvent | DeliveryReport]:
        body = request.body
        problem = signing.verify(inbox.secrets.get("hmac_secret", ""), body, request.headers)
        if problem:
            raise ChannelRejected(problem, status=401)
        payload = parse_payload(InboundPayload, body)
        attachments = []
        for index, item in enumerate(payload.attachments):
            data = decode_attachment(item.data_base64, f"attachments.{index}.data_base64")
            attachments.append(InboundAttachment(item.filename, item.content_type, data))
        return [
            InboundEvent(
                provider_message_id=payload.message_id,
                identities=[InboundIdentity(i.kind, i.value, i.verified) for i in payload.contact.identities],
                text=payload.text,
                html=payload.html,
                contact_name=payload.contact.name,
                contact_language=payload.contact.language,
                subject=payload.subject,
                sent_at=payload.sent_at,
                attachments=attachments,
                attributes=payload.attributes,
            )
        ]

    def can_deliver(self, settings: dict[str, Any], secret_names: frozenset[str] = frozenset()) -> bool:
        return bool(settings.get("callback_url"))

    def send(self, inbox: InboxConfig, message: OutboundMessage) -> str:
        url = inbox.settings.get("callback_url")
        if not url:
            raise DeliveryError("the API inbox has no callback_url", permanent=True)
        body = json.dumps(
            {
                "event": "message.created",
                "idempotency_key": message.idempotency_key,
                "message": {
                    "id": message.message_id,
                    "conversation_id": message.conversation_id,
                    "text": message.text,
                    "html": message.html,
                    "sender_name": message.sender_name,
                    # The same shape as inbound attachments: the integrator gets the file itself.
                    "attachments": [_attachment_out(a) for a in message.attachments],
                },
                "recipient": {"kind": message.recipient.kind, "value": message.recipient.value}
                if message.recipient
                else None,
                "contact": message.contact,
            },
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key}
        headers.update(signing.sign(inbox.secrets.get("hmac_secret", ""), body))
        try:
            response = httpx.post(
                url, content=body, headers=headers, timeout=float(inbox.settings.get("timeout_seconds", 10))
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"callback unreachable: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            # 4xx other than 408/429 means the integrator refused it: retrying will not help.
            permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 429)
            raise DeliveryError(
                f"callback answered HTTP {response.status_code}: {response.text[:200]}",
                permanent=permanent,
                retry_after=retry_after_seconds(response.headers.get("retry-after")),
            )
        try:
            provider_id = response.json().get("id")
        except (ValueError, AttributeError):
            provider_id = None
        return str(provider_id) if provider_id else message.idempotency_key


CHANNEL = ApiChannel
