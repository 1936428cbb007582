"""The channel interface: verify and parse inbound, send outbound, declare capabilities.

Adding a channel is adding a module that defines a ``Channel`` subclass decorated with
``@register``; nothing else in the code switches on channel names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from raccordo.channels.domain.composer import ComposerRules
from raccordo.platform.errors import RaccordoError


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
    """Formats and routing defaults. What an agent may send (length, attachments, message window)
    is the channel's ``composer`` rules (``domain/composer.py``), declared once per channel module."""

    text: bool = True
    html: bool = False
    # Routing defaults for an agent with no capacity of their own: conversations at once on
    # this channel, and whether one takes the agent's whole attention (as a phone call does).
    default_capacity: int = 3
    exclusive: bool = False


@dataclass(frozen=True)
class InboundAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None  # an inline part the HTML refers to as cid:<content_id>


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
    # Provider ids of the messages this one answers, most relevant first (email References, reply-to ids).
    in_reply_to: tuple[str, ...] = ()
    # A conversation id the channel verified itself (e.g. a signed reply address); used when it is the contact's.
    conversation_hint: int | None = None
    # Why the message is machine-generated (auto-reply, vacation notice); it never opens or reopens a conversation.
    automated: str | None = None
    # Channel details kept on the message (``content_attributes``), e.g. email headers and the quoted part.
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryReport:
    """The provider says an earlier outbound message failed (an email bounce, a status callback)."""

    provider_message_ids: tuple[str, ...]
    status: str  # failed
    reason: str
    report_id: str


@dataclass(frozen=True)
class CheckResult:
    """One step of checking an inbox's connection settings (DNS, TLS, login, folder...)."""

    step: str
    ok: bool
    setting: str | None = None  # the settings field to correct, e.g. settings.imap_host
    key: str | None = None  # translation key of the failure message
    params: dict[str, Any] = field(default_factory=dict)


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
    subject: str | None = None  # the conversation's subject
    # Provider ids of earlier messages of the conversation on this inbox, oldest first, and the customer's last one.
    thread: tuple[str, ...] = ()
    in_reply_to: str | None = None


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
    # Whether providers post inbound messages to the webhook URL; a channel that receives
    # otherwise (e.g. email, polled or forwarded over SMTP) refuses unauthenticated posts there.
    webhook: ClassVar[bool] = True
    # What an agent's reply may be on this channel; the reply service and the composer both read it.
    composer: ClassVar[ComposerRules] = ComposerRules()

    def composer_rules(self, settings: dict[str, Any]) -> ComposerRules:
        """The rules for one inbox of this channel (an inbox's settings may narrow them)."""
        return self.composer

    def validate_settings(self, settings: dict[str, Any], secrets: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
        """Check and complete an inbox's settings; raise InvalidInput naming the field."""
        return settings, secrets

    def parse_inbound(self, inbox: InboxConfig, headers: dict[str, str], body: bytes) -> list[InboundEvent | DeliveryReport]:
        """Verify the request and turn it into normalized events; raise ChannelRejected."""
        raise ChannelRejected("channel.no_inbound", status=405)

    def send(self, inbox: InboxConfig, message: OutboundMessage) -> str:
        """Deliver and return the provider's message id; raise DeliveryError."""
        raise DeliveryError(f"channel {self.kind} cannot send", permanent=True)

    def check(self, inbox: InboxConfig) -> list[CheckResult]:
        """Try the inbox's connection settings against the provider; one result per step, in order."""
        return []


_REGISTRY: dict[str, Channel] = {}


def register(cls: type[Channel]) -> type[Channel]:
    _REGISTRY[cls.kind] = cls()
    return cls


def get_channel(kind: str) -> Channel | None:
    from raccordo.channels import registry  # noqa: F401  (imports every channel module)

    return _REGISTRY.get(kind)


def channel_kinds() -> list[str]:
    from raccordo.channels import registry  # noqa: F401

    return sorted(_REGISTRY)
