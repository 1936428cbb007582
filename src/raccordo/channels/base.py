"""The channel plug-in contract: what a channel declares and what it implements.

A channel is one subpackage of ``raccordo.channels`` whose ``channel`` module defines a
``Channel`` subclass and names it ``CHANNEL``; the composition root registers it
(``bootstrap/channels.py``, or an installed package's ``raccordo.channels`` entry point), and
nothing outside ``channels/`` switches on channel names. What a channel can do beyond parsing
and sending is declared, never guessed: ``features`` (a set of ``Feature``) says which optional
hooks the rest of the code may call, ``settings_form`` describes its inbox form, ``composer``
what an agent may send. ``docs/architecture.md`` ("Adding a channel") walks through one.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.domain.request import InboundRequest, WebhookResponse
from raccordo.channels.domain.settings_form import SettingsForm
from raccordo.channels.registry import channel_kinds, get_channel, register, unregister
from raccordo.platform.errors import InvalidInput, RaccordoError
from raccordo.platform.web.schemas import TEXT_NUL, nul_field

if TYPE_CHECKING:
    from fastapi import FastAPI

    from raccordo.platform.runtime import Runtime

__all__ = [
    "Capabilities",
    "Channel",
    "ChannelRejected",
    "CheckResult",
    "DeliveryError",
    "DeliveryReport",
    "Feature",
    "InboundAttachment",
    "InboundEvent",
    "InboundIdentity",
    "InboundRequest",
    "InboxConfig",
    "MessageTemplate",
    "OutboundAttachment",
    "OutboundMessage",
    "Poller",
    "PreparedContent",
    "WebhookResponse",
    "channel_kinds",
    "decode_attachment",
    "get_channel",
    "parse_payload",
    "register",
    "unregister",
]


class ChannelRejected(RaccordoError):
    """Inbound request not accepted: bad signature (401) or malformed payload (400/422)."""

    status = 400
    key = "channel.rejected"

    def __init__(self, key: str, *, status: int = 400, field: str | None = None, **params: object) -> None:
        super().__init__(key, field=field, **params)
        self.status = status


Payload = TypeVar("Payload", bound=BaseModel)


def parse_payload(model: type[Payload], body: bytes) -> Payload:
    """A channel's JSON payload read into its model. Refused with a 422 naming the field: a payload
    the model does not accept, and text holding U+0000 (PostgreSQL cannot store it), keys included."""
    # JSON spells the character \u0000: a body without that sequence needs no second look.
    if b"\\u0000" in body:
        try:
            where = nul_field(json.loads(body))
        except ValueError:
            where = None  # not JSON: the model says so below
        if where is not None:
            raise ChannelRejected(TEXT_NUL, status=422, field=where)
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ChannelRejected("channel.payload_invalid", status=422, field=where, reason=first["msg"]) from None


def decode_attachment(data_base64: str, field: str) -> bytes:
    """An attachment's content sent as base64 in a JSON payload; 422 naming ``field`` when it is not base64."""
    try:
        return base64.b64decode(data_base64, validate=True)
    except (binascii.Error, ValueError):
        raise ChannelRejected("channel.attachment_base64", status=422, field=field) from None


class DeliveryError(Exception):
    """Outbound send failed. ``permanent`` errors are not retried.

    ``retry_after`` (seconds) is the provider's own wait (a 429's ``Retry-After``, a throughput
    code): the outbox waits at least that long before the next attempt. ``reason`` is an i18n key
    (with ``params``) explaining the failure to an agent in their language; the plain ``message``
    stays the technical text for logs and the outbox row.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        reason: str | None = None,
        params: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.reason = reason
        self.params = dict(params or {})


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
    # The customer edited an earlier message (Telegram's ``edited_message``): ``provider_message_id``
    # is that message's id, whose text becomes this event's; its earlier text stays in its edit history.
    # ``edit_id`` tells a provider's retry of one edit from a later edit, recorded once.
    edit_id: str | None = None


@dataclass(frozen=True)
class DeliveryReport:
    """The provider reports on an earlier outbound message: an email bounce, an SMS status callback
    (``delivered``, ``read``, ``failed``). A channel declaring ``Feature.DELIVERY_STATUS`` returns
    these from ``parse_inbound`` for the status requests that reach the one webhook route."""

    provider_message_ids: tuple[str, ...]
    status: str  # failed, or (status callbacks) sent / delivered / read
    reason: str
    report_id: str
    # Providers that report by time instead of by id (Messenger's delivery and read ``watermark``):
    # every outbound message of this inbox to ``recipient`` sent at or before ``watermark`` is covered.
    watermark: datetime | None = None
    recipient: InboundIdentity | None = None
    # The agent-facing explanation of a failure as an i18n key and its values (rendered in the agent's
    # language, as ``DeliveryError.reason``); ``reason`` stays the stored technical text.
    reason_key: str | None = None
    params: dict[str, str] | None = None


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
    # What the message carries besides text, as the composer or an API caller set it in the message's
    # ``content_attributes`` (for example ``{"template": {...}}``, ``{"interactive": {...}}``,
    # ``{"messaging_tag": "HUMAN_AGENT"}``); each channel reads the names it documents.
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreparedContent:
    """An agent's structured content (a template, interactive buttons) checked by its channel.

    ``text`` is what the customer will read (a template's body with its variables filled in), stored as
    the message's text so the timeline shows it; ``attributes`` replace the given ones in the message's
    ``content_attributes``; ``outside_window`` lets it go out when the channel's message window is
    closed (an approved template); ``consent_purpose`` names the consent the contact must have granted
    (a marketing template)."""

    text: str
    attributes: dict[str, Any]
    outside_window: bool = False
    consent_purpose: str | None = None


@dataclass(frozen=True)
class MessageTemplate:
    """A provider-approved message template an agent may send (the composer's template picker).

    ``prefill`` holds a value per variable the channel filled from the contact and conversation ("" for
    the agent to write), ``hints`` the template's example per variable; ``attributes`` is the reply's
    ``content_attributes`` for it, the picker adding the values as ``attributes["template"]["variables"]``.
    ``unavailable`` is an i18n key saying why it cannot be sent to this contact (no marketing consent)."""

    name: str
    language: str
    category: str
    body: str
    prefill: tuple[str, ...]
    hints: tuple[str, ...]
    attributes: dict[str, Any]
    unavailable: str | None = None


@dataclass(frozen=True)
class InboxConfig:
    id: int
    identifier: str
    settings: dict[str, Any]
    secrets: dict[str, str]


class Feature(enum.StrEnum):
    """Optional capabilities a channel declares in ``Channel.features``; code outside the channel
    calls the matching hook only when the feature is declared."""

    # Providers POST messages (and status callbacks) to the one webhook route; others refuse it (405).
    WEBHOOK = "webhook"
    # The provider verifies the webhook URL with a GET (Meta's hub.challenge): ``handshake``.
    HANDSHAKE = "handshake"
    # The webhook must be registered with the provider when an inbox is saved, and removed when it
    # is deactivated (Telegram setWebhook): ``provision`` / ``unprovision``, run as jobs.
    PROVISIONING = "provisioning"
    # The worker runs the channel's poller (IMAP): ``poller``.
    POLLING = "polling"
    # ``parse_inbound`` may return ``DeliveryReport``s (bounces, status callbacks).
    DELIVERY_STATUS = "delivery_status"
    # The inbox settings can be tried against the provider before saving: ``check``.
    CONNECTION_CHECK = "connection_check"
    # The channel serves endpoints of its own (the chat widget): ``install_http``.
    HTTP = "http"


class Poller(Protocol):
    """A background service the worker starts and stops (``Feature.POLLING``); it stores what it fetches
    with ``inbound.store_raw`` and processes it with ``inbound.process_raw``, like a webhook would."""

    def start(self) -> None: ...

    def stop(self, timeout: float = ...) -> None: ...

    @property
    def running(self) -> bool: ...


class Channel:
    kind: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # The optional hooks below that this channel implements (see ``Feature``).
    features: ClassVar[frozenset[Feature]] = frozenset({Feature.WEBHOOK})
    # Identity kinds this channel can address a reply to, in order of preference.
    reply_identity_kinds: ClassVar[tuple[str, ...]] = ()
    # What an agent's reply may be on this channel; the reply service and the composer both read it.
    composer: ClassVar[ComposerRules] = ComposerRules()
    # The inbox settings form (fields, labels, secrets, defaults) the admin page renders and reads.
    settings_form: ClassVar[SettingsForm] = SettingsForm()
    # Request headers the platform drops from stored requests by default (``authorization``) that
    # carry this channel's signature (Vonage signs webhooks with a JWT in Authorization): kept with
    # the raw row so a stored request verifies again.
    kept_headers: ClassVar[frozenset[str]] = frozenset()

    def supports(self, feature: Feature) -> bool:
        return feature in self.features

    # --- settings ---------------------------------------------------------------------------------

    def composer_rules(self, settings: dict[str, Any]) -> ComposerRules:
        """The rules for one inbox of this channel (an inbox's settings may narrow them)."""
        return self.composer

    def validate_settings(
        self, settings: dict[str, Any], secrets: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Check and complete an inbox's settings; raise InvalidInput naming the field. By default the
        declared form's checks (types, required, choices, defaults, generated secrets)."""
        return self.settings_form.validate(settings, secrets)

    def check(self, inbox: InboxConfig) -> list[CheckResult]:
        """``Feature.CONNECTION_CHECK``: try the settings against the provider; one result per step, in order."""
        return []

    def prepare_content(
        self, settings: dict[str, Any], attributes: dict[str, Any], contact: dict[str, Any]
    ) -> PreparedContent | None:
        """Check the structured content an agent sends (``content_attributes`` of the reply, e.g.
        ``{"template": {...}}``) against the inbox's ``settings``; ``contact`` is ``{"name", "first_name",
        "consent"}``. Raise ``InvalidInput`` naming the field; None when the attributes hold nothing this
        channel sends (the reply is plain text). By default a channel sends no structured content."""
        if attributes:
            raise InvalidInput("reply.content_unsupported", field="content_attributes", channel=self.kind)
        return None

    def message_templates(self, settings: dict[str, Any], contact: dict[str, Any]) -> list[MessageTemplate]:
        """The templates an agent may pick for this inbox (``ComposerRules.templates_outside_window``),
        for ``contact`` as ``prepare_content`` gets it (plus ``conversation_id``)."""
        return []

    def admin_pages(self, inbox_id: int) -> list[tuple[str, str]]:
        """Extra admin pages of one inbox, as (i18n key of the link, path): the inbox page links them."""
        return []

    # --- inbound ----------------------------------------------------------------------------------

    def parse_inbound(self, inbox: InboxConfig, request: InboundRequest) -> list[InboundEvent | DeliveryReport]:
        """Verify the whole request (signature over body, URL or parameters) and turn it into
        normalized events; raise ChannelRejected (401/403 for authentication: such a request is
        counted in ``inbound_rejections``, never stored)."""
        raise ChannelRejected("channel.no_inbound", status=405)

    def handshake(self, inbox: InboxConfig, request: InboundRequest) -> WebhookResponse:
        """``Feature.HANDSHAKE``: answer the provider's GET on the webhook URL (echo its challenge after
        checking the verify token); raise ChannelRejected to refuse it."""
        raise ChannelRejected("channel.no_inbound", status=405)

    def webhook_response(
        self,
        inbox: InboxConfig,
        request: InboundRequest,
        events: list[InboundEvent | DeliveryReport],
    ) -> WebhookResponse | None:
        """The body the provider expects once a request is stored and ingested (TwiML, an empty 200);
        None answers the route's own JSON (the raw and message ids)."""
        return None

    # --- provisioning -----------------------------------------------------------------------------

    def provision(self, inbox: InboxConfig, webhook_url: str) -> None:
        """``Feature.PROVISIONING``: register ``webhook_url`` with the provider (after an inbox is saved
        active). Runs in a job, outside the transaction, retried with backoff: raise to retry."""

    def unprovision(self, inbox: InboxConfig) -> None:
        """``Feature.PROVISIONING``: remove the webhook from the provider (after an inbox is deactivated)."""

    def subscriptions(self) -> list[tuple[type, Callable[..., None]]]:
        """Domain events the channel reacts to in the recording transaction, as ``(event type,
        handler(session, event))`` (an SMS "STOP" recorded as the contact's consent); wired by
        ``bootstrap.subscriptions`` for every installed channel."""
        return []

    # --- background and HTTP ----------------------------------------------------------------------

    def poller(self, rt: Runtime) -> Poller | None:
        """``Feature.POLLING``: the service the worker runs for this channel's inboxes, or None when
        the installation's settings turn it off."""
        return None

    def install_http(self, app: FastAPI, hub: Any) -> Callable[[], Awaitable[None]] | None:
        """``Feature.HTTP``: mount the channel's own endpoints and middleware on the app (``hub`` is the
        process's realtime hub); returns what to await when the app stops, if anything."""
        return None

    def embed_snippet(self, inbox: InboxConfig, public_url: str) -> str | None:
        """HTML an admin pastes into their site to use this inbox (the chat widget's script tag)."""
        return None

    # --- outbound ---------------------------------------------------------------------------------

    def can_deliver(self, settings: dict[str, Any], secret_names: frozenset[str] = frozenset()) -> bool:
        """Whether an inbox with these settings has a way to send at all (an API inbox without a callback
        URL, an email inbox without SMTP, a bot without its token have none): the composer never offers
        such an inbox. ``secret_names`` are the inbox's secrets that are set, never their values."""
        return True

    def can_address(self, settings: dict[str, Any], identity_value: str) -> bool:
        """Whether a reply from an inbox with these settings can go to the contact's identity
        ``identity_value`` (one of ``reply_identity_kinds``). Page-scoped ids (Messenger's PSID) reach the
        customer only from the page they wrote to; most identities (a number, an address) reach from any."""
        return True

    def send(self, inbox: InboxConfig, message: OutboundMessage) -> str:
        """Deliver and return the provider's message id; raise DeliveryError."""
        raise DeliveryError(f"channel {self.kind} cannot send", permanent=True)
