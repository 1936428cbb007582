"""The web chat widget channel: visitors write from a <script>-embedded chat on the tenant's sites.

Inbound: the visitor's WebSocket (``/widget/ws``, ``api.py``, mounted by ``install_http``) authenticates
the visitor with a token ``visitor.py`` signs, stores each message raw and hands it to
``parse_inbound`` like every other channel's payload; so, like email, it never receives on
the webhook URL. Outbound: ``send`` hands a reply to the visitor. There is no provider to
call: the message becomes visible to the visitor's sockets once the outbox records it sent
(the database is the source of truth, the bus wakes the sockets on every process), so the
provider id is derived from the outbox key and a retried send returns the same id.

Identity: each browser gets a random visitor id (identity kind ``web_visitor``) in a token
signed with the inbox's ``visitor_secret``; a host site that knows its logged-in user signs
the user id with the inbox's ``hmac_secret`` (``HMAC-SHA256(hmac_secret, user_id)``, hex, as
Chatwoot's ``identifier_hash``), which makes a verified ``external`` identity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

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
    OutboundMessage,
    decode_attachment,
    parse_payload,
)
from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.domain.settings_form import FieldKind, Label, SettingsField, SettingsForm
from raccordo.channels.widget import api
from raccordo.channels.widget.visitor import (
    DEFAULT_ATTACHMENT_TYPES,
    KIND,
    MAX_ATTACHMENT_BYTES,
    VisitorPayload,
    attachment_limits,
    identity_hash,
    type_allowed,
    validate_settings,
)

if TYPE_CHECKING:
    from fastapi import FastAPI


SETTINGS_FORM = SettingsForm(
    fields=(
        SettingsField(
            "allowed_origins",
            Label("Allowed sites", "Siti ammessi"),
            FieldKind.LINES,
            required=True,
            hint=Label(
                "One per line, like https://www.example.com; * for any site",
                "Uno per riga, come https://www.esempio.it; * per qualsiasi sito",
            ),
        ),
        SettingsField("title", Label("Title", "Titolo")),
        SettingsField("greeting", Label("Greeting", "Saluto"), FieldKind.TEXTAREA),
        SettingsField(
            "color_primary", Label("Main colour", "Colore principale"), FieldKind.COLOR, path=("colors", "primary")
        ),
        SettingsField(
            "color_on_primary",
            Label("Text colour on it", "Colore del testo sopra"),
            FieldKind.COLOR,
            path=("colors", "on_primary"),
        ),
        SettingsField(
            "prechat_fields",
            Label("Pre-chat fields (JSON)", "Campi prima della chat (JSON)"),
            FieldKind.JSON,
            json_list=True,
            hint=Label('e.g. [{"name": "email", "required": true}]', 'es. [{"name": "email", "required": true}]'),
        ),
    ),
    shown_once=(SettingsField("hmac_secret", Label("HMAC secret", "Segreto HMAC"), FieldKind.SECRET, generated=True),),
)


class WidgetChannel(Channel):
    kind = KIND
    capabilities = Capabilities(text=True, html=False, default_capacity=3)
    # Visitors write over the widget's own WebSocket (its endpoints: HTTP), never on the webhook URL.
    features = frozenset({Feature.HTTP})
    settings_form = SETTINGS_FORM
    composer = ComposerRules(
        max_length=10_000,
        attachments=True,
        max_attachments=5,
        max_attachment_bytes=MAX_ATTACHMENT_BYTES,
        attachment_types=DEFAULT_ATTACHMENT_TYPES,
    )
    reply_identity_kinds = ("web_visitor",)

    def composer_rules(self, settings: dict[str, Any]) -> ComposerRules:
        """The inbox's own file size and types (what its visitors may send, they may also receive)."""
        limit, types = attachment_limits(settings)
        return replace(self.composer, max_attachment_bytes=min(limit, MAX_ATTACHMENT_BYTES), attachment_types=types)

    def validate_settings(
        self, settings: dict[str, Any], secrets_: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        return validate_settings(settings, secrets_)

    def install_http(self, app: FastAPI, hub: Any) -> Callable[[], Awaitable[None]]:
        """The visitor endpoints (``api.py``), their CORS answers, and the hub of visitor sockets."""
        widget_hub = api.WidgetHub.of(hub)
        app.include_router(api.router)
        app.add_middleware(api.WidgetCors)
        return widget_hub.stop

    def embed_snippet(self, inbox: InboxConfig, public_url: str) -> str:
        return f'<script src="{public_url}/widget/widget.js" data-inbox="{inbox.identifier}" async></script>'

    def parse_inbound(self, inbox: InboxConfig, request: InboundRequest) -> list[InboundEvent | DeliveryReport]:
        payload = parse_payload(VisitorPayload, request.body)
        limit, allowed = attachment_limits(inbox.settings)
        attachments = []
        for index, item in enumerate(payload.attachments):
            if not type_allowed(item.content_type, allowed):
                raise ChannelRejected(
                    "widget.attachment_type",
                    status=415,
                    field=f"attachments.{index}",
                    filename=item.filename,
                    content_type=item.content_type,
                    allowed=", ".join(allowed),
                )
            data = decode_attachment(item.data_base64, f"attachments.{index}.data_base64")
            if len(data) > limit:
                raise ChannelRejected(
                    "widget.attachment_too_large",
                    status=413,
                    field=f"attachments.{index}",
                    filename=item.filename,
                    limit=limit,
                )
            attachments.append(
                InboundAttachment(item.filename, item.content_type.split(";", 1)[0].strip().lower(), data)
            )
        if not payload.text.strip() and not attachments:
            raise ChannelRejected("widget.message_empty", status=422, field="text")
        if len(payload.attributes) > 30 or not all(
            len(k) <= 64 and (v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 500))
            for k, v in payload.attributes.items()
        ):
            raise ChannelRejected("widget.attributes_invalid", status=422, field="attributes")
        attributes = dict(payload.attributes)
        for key, value in (("page_url", payload.page_url), ("referrer", payload.referrer)):
            if value:
                attributes[key] = value
        metadata = {
            "widget": {
                k: v
                for k, v in (
                    ("page_url", payload.page_url),
                    ("referrer", payload.referrer),
                    ("user_agent", payload.user_agent),
                    ("client_message_id", payload.client_message_id),
                )
                if v
            }
        }
        return [
            InboundEvent(
                provider_message_id=f"{payload.visitor_id}:{payload.client_message_id}",
                identities=[InboundIdentity("web_visitor", payload.visitor_id, True)],
                text=payload.text,
                contact_name=payload.name,
                contact_language=payload.language if payload.language in ("it", "en") else None,
                attachments=attachments,
                attributes=attributes,
                metadata=metadata,
            )
        ]

    def send(self, inbox: InboxConfig, message: OutboundMessage) -> str:
        if message.recipient is None or message.recipient.kind != "web_visitor":
            raise DeliveryError("no web visitor to show the reply to", permanent=True)
        # Nothing to call: recorded as sent, the visitor's sockets read it from the database.
        return f"widget:{message.idempotency_key}"


CHANNEL = WidgetChannel
# What a host site computes for its logged-in user (documented in docs/channels/widget.md).
__all__ = ["CHANNEL", "KIND", "WidgetChannel", "identity_hash"]
