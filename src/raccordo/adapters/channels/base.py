"""The channel interface: verify and parse inbound, send outbound, declare capabilities.

Adding a channel is adding a module that defines a ``Channel`` subclass decorated with
``@register``; nothing else in the code switches on channel names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from raccordo.domain.errors import RaccordoError


class ChannelRejected(RaccordoError):
    """Inbound request not accepted: bad signature (401) or malformed payload (400/422)."""

    status = 400
    key = "channel.rejected"

    def __init__(self, key: str, *, status: int = 400, **params: object) -> None:
        super().__init__(key, **params)
        self.status = status


class DeliveryError(Exception):
    """Outbound send failed. ``permanent`` errors are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Capabilities:
    text: bool = True
    html: bool = False
    attachments: bool = True
    max_text_length: int | None = None
    max_attachment_bytes: int | None = None
    # Hours after the customer's last message in which free-form replies are allowed (e.g. WhatsApp 24h).
    reply_window_hours: int | None = None


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class InboundIdentity:
    kind: str
    value: str
    verified: bool = False


@dataclass(frozen=True)
class InboundEvent:
    """A customer message, normalized. ``identities[0]`` is the one the channel addresses replies to."""

    provider_message_id: str
    identities: list[InboundIdentity]
    text: str = ""
    html: str | None = None
    contact_name: str | None = None
    contact_language: str | None = None
    subject: str | None = None
    sent_at: datetime | None = None
    attachments: list[InboundAttachment] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundAttachment:
    filename: str
    content_type: str
    path: str


@dataclass(frozen=True)
class OutboundMessage:
    idempotency_key: str
    message_id: int
    conversation_id: int
    recipient: InboundIdentity | None
    text: str
    html: str | None
    attachments: list[OutboundAttachment]
    sender_name: str | None
    contact: dict[str, Any]


@dataclass(frozen=True)
class InboxConfig:
    id: int
    identifier: str
    settings: dict[str, Any]
    secrets: dict[str, str]


class Channel:
    kind: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # Identity kinds this channel can address a reply to, in order of preference.
    reply_identity_kinds: ClassVar[tuple[str, ...]] = ()

    def validate_settings(self, settings: dict[str, Any], secrets: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        """Check and complete an inbox's settings; raise InvalidInput naming the field."""
        return settings, secrets

    def parse_inbound(self, inbox: InboxConfig, headers: dict[str, str], body: bytes) -> list[InboundEvent]:
        """Verify the request and turn it into normalized events; raise ChannelRejected."""
        raise ChannelRejected("channel.no_inbound", status=405)

    def send(self, inbox: InboxConfig, message: OutboundMessage) -> str:
        """Deliver and return the provider's message id; raise DeliveryError."""
        raise DeliveryError(f"channel {self.kind} cannot send", permanent=True)


_REGISTRY: dict[str, Channel] = {}


def register(cls: type[Channel]) -> type[Channel]:
    _REGISTRY[cls.kind] = cls()
    return cls


def get_channel(kind: str) -> Channel | None:
    from raccordo.adapters.channels import registry  # noqa: F401  (imports every channel module)

    return _REGISTRY.get(kind)


def channel_kinds() -> list[str]:
    from raccordo.adapters.channels import registry  # noqa: F401

    return sorted(_REGISTRY)
