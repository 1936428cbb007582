"""The WhatsApp Business (Cloud API) channel.

Inbound: Meta POSTs the ``messages`` webhook, signed with ``X-Hub-Signature-256`` (HMAC-SHA256
of the raw body with the app secret), to the inbox's webhook URL, or to the app-level URL
(``routes.py``) that serves every phone number of the app; Meta's GET verification is answered
with ``hub.challenge`` when ``hub.verify_token`` is the inbox's. Message types and statuses are
normalized in ``inbound.py``; media is downloaded after the message is stored (``media.py``).

Outbound: ``POST /{phone-number-id}/messages`` (``graph.py``, payloads in ``outbound.py``): text,
or one file uploaded first and sent as a media message with the text as caption. Free-form
messages only within 24 hours of the customer's last message (the composer rules below; the
reply service enforces them); outside it only approved templates (``outbound.template``).
Setup and limits: ``docs/channels/whatsapp.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raccordo.channels.base import (
    Capabilities,
    Channel,
    ChannelRejected,
    CheckResult,
    DeliveryError,
    DeliveryReport,
    Feature,
    InboundEvent,
    InboundRequest,
    InboxConfig,
    MessageTemplate,
    OutboundMessage,
    PreparedContent,
    WebhookResponse,
)
from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.domain.settings_form import Choice, FieldKind, Label, SettingsField, SettingsForm
from raccordo.channels.whatsapp import content, inbound, outbound, template_pages, templates
from raccordo.channels.whatsapp.background import WhatsAppService
from raccordo.channels.whatsapp.check import run_check
from raccordo.channels.whatsapp.config import graph_for, language_of
from raccordo.channels.whatsapp.graph import DEFAULT_BASE_URL, Graph, GraphFailure
from raccordo.channels.whatsapp.routes import router

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fastapi import FastAPI

    from raccordo.channels.base import Poller
    from raccordo.platform.runtime import Runtime

KIND = "whatsapp"
WINDOW_SECONDS = 24 * 3600
SIGNATURE_HEADER = "x-hub-signature-256"

SETTINGS_FORM = SettingsForm(
    fields=(
        SettingsField(
            "phone_number_id",
            Label("Phone number ID", "ID del numero di telefono"),
            required=True,
            hint=Label(
                "WhatsApp Manager → API setup: the ID of the business number (not the number itself).",
                "WhatsApp Manager → Configurazione API: l'ID del numero aziendale (non il numero stesso).",
            ),
        ),
        SettingsField(
            "waba_id",
            Label("WhatsApp Business Account ID", "ID dell'account WhatsApp Business"),
            required=True,
            hint=Label("Used to read the message templates.", "Serve a leggere i modelli di messaggio."),
        ),
        SettingsField(
            "graph_base_url",
            Label("Graph API base URL", "URL di base della Graph API"),
            FieldKind.URL,
            default=DEFAULT_BASE_URL,
            hint=Label(
                "Meta's, with the API version; the provider sandbox's address for tests.",
                "Quello di Meta, con la versione dell'API; l'indirizzo del sandbox per le prove.",
            ),
        ),
        SettingsField(
            "language",
            Label("Language of status explanations", "Lingua delle spiegazioni sugli stati"),
            FieldKind.CHOICE,
            default="it",
            choices=(Choice("it", Label("Italian", "Italiano")), Choice("en", Label("English", "Inglese"))),
            hint=Label(
                "Delivery errors and media notes are written on messages in this language.",
                "Gli errori di consegna e le note sugli allegati sono scritti sui messaggi in questa lingua.",
            ),
        ),
        SettingsField(
            "access_token",
            Label("Access token", "Token di accesso"),
            FieldKind.SECRET,
            required=True,
            hint=Label(
                "A system user's permanent token with whatsapp_business_messaging.",
                "Il token permanente di un utente di sistema con whatsapp_business_messaging.",
            ),
        ),
        SettingsField(
            "app_secret",
            Label("App secret", "Chiave segreta dell'app"),
            FieldKind.SECRET,
            required=True,
            hint=Label(
                "App dashboard → Settings → Basic; it signs the webhook requests.",
                "Dashboard dell'app → Impostazioni → Di base; firma le richieste del webhook.",
            ),
        ),
    ),
    shown_once=(
        SettingsField(
            "verify_token",
            Label("Webhook verify token", "Token di verifica del webhook"),
            FieldKind.SECRET,
            generated=True,
        ),
    ),
    # Kept by the template sync (``templates.py``), not edited in the form.
    extra_settings=templates.SETTINGS_KEYS,
)


def signature(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _delivery_error(exc: GraphFailure, language: str) -> DeliveryError:
    """A refused send: the technical text, whether to retry and after how long, and the agent's reason key."""
    key, params = exc.error.reason()
    return DeliveryError(
        exc.error.explain(language),
        permanent=not exc.error.retryable,
        retry_after=exc.error.retry_after,
        reason=key,
        params=params,
    )


class WhatsAppChannel(Channel):
    kind = KIND
    capabilities = Capabilities(text=True, html=False, default_capacity=4)
    features = frozenset(
        {
            Feature.WEBHOOK,
            Feature.HANDSHAKE,
            Feature.DELIVERY_STATUS,
            Feature.CONNECTION_CHECK,
            Feature.POLLING,
            Feature.HTTP,
        }
    )
    reply_identity_kinds = (inbound.IDENTITY_KIND,)
    # One file per message (each media message is one wamid, which its statuses name); Meta's media limits.
    composer = ComposerRules(
        max_length=outbound.MAX_TEXT,
        attachments=True,
        max_attachments=1,
        max_attachment_bytes=16 * 1024 * 1024,
        attachment_types=(
            "image/jpeg",
            "image/png",
            "audio/*",
            "video/mp4",
            "video/3gpp",
            "application/*",
            "text/plain",
        ),
        reply_window_seconds=WINDOW_SECONDS,
        templates_outside_window=True,
    )
    settings_form = SETTINGS_FORM

    # --- inbound ----------------------------------------------------------------------------------

    def handshake(self, inbox: InboxConfig, request: InboundRequest) -> WebhookResponse:
        token = request.query_value("hub.verify_token") or ""
        expected = inbox.secrets.get("verify_token", "")
        if request.query_value("hub.mode") != "subscribe" or not expected or not hmac.compare_digest(token, expected):
            raise ChannelRejected("whatsapp.verify_token_mismatch", status=403)
        return WebhookResponse((request.query_value("hub.challenge") or "").encode(), "text/plain; charset=utf-8")

    def parse_inbound(self, inbox: InboxConfig, request: InboundRequest) -> list[InboundEvent | DeliveryReport]:
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not given:
            raise ChannelRejected("whatsapp.signature_missing", status=401)
        expected = signature(inbox.secrets.get("app_secret", ""), request.body)
        if not inbox.secrets.get("app_secret") or not hmac.compare_digest(given.encode(), expected.encode()):
            raise ChannelRejected("whatsapp.signature_mismatch", status=401)
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ChannelRejected("channel.payload_invalid", status=422, field="body", reason=str(exc)[:200]) from None
        if not isinstance(data, dict) or data.get("object") != "whatsapp_business_account":
            raise ChannelRejected(
                "channel.payload_invalid", status=422, field="object", reason="not a WhatsApp webhook"
            )
        language = language_of(inbox)
        events: list[InboundEvent | DeliveryReport] = []
        for value in inbound.changes_for(data, str(inbox.settings.get("phone_number_id", ""))):
            events.extend(inbound.parse_value(value, language))
        return events

    # --- outbound ---------------------------------------------------------------------------------

    def can_deliver(self, settings: dict[str, Any], secret_names: frozenset[str] = frozenset()) -> bool:
        # The Cloud API sends from the phone number's id with the access token.
        return bool(settings.get("phone_number_id")) and "access_token" in secret_names

    def send(self, inbox: InboxConfig, message: OutboundMessage) -> str:
        if message.recipient is None:
            raise DeliveryError("no WhatsApp number to send to", permanent=True)
        to = outbound.recipient(message.recipient.value)
        phone_number_id = str(inbox.settings.get("phone_number_id", ""))
        graph = graph_for(inbox)
        try:
            structured = content.payload_for(to, message.attributes)
            if structured is not None:
                payload = structured
            elif message.attachments:
                payload = self._media_payload(graph, phone_number_id, to, message)
            else:
                payload = outbound.text(to, message.text)
            return graph.send(phone_number_id, payload)
        except outbound.OutboundInvalid as exc:
            raise DeliveryError(str(exc), permanent=True) from None
        except GraphFailure as exc:
            raise _delivery_error(exc, language_of(inbox)) from None

    def _media_payload(self, graph: Graph, phone_number_id: str, to: str, message: OutboundMessage) -> dict[str, Any]:
        attachment = message.attachments[0]
        kind = outbound.media_kind(attachment.content_type)
        data = Path(attachment.path).read_bytes()
        media_id = graph.upload(phone_number_id, attachment.filename, attachment.content_type, data)
        caption = message.text if kind not in ("audio", "sticker") else ""
        payload = outbound.media(to, kind, media_id=media_id, caption=caption, filename=attachment.filename)
        if message.text.strip() and not caption:
            # Audio has no caption: the text goes first as its own message, the file is the one tracked.
            graph.send(phone_number_id, outbound.text(to, message.text))
        return payload

    def send_payload(self, inbox: InboxConfig, payload: dict[str, Any]) -> str:
        """Send a prepared Cloud API payload (a template, interactive buttons or a list); returns the wamid."""
        try:
            return graph_for(inbox).send(str(inbox.settings.get("phone_number_id", "")), payload)
        except GraphFailure as exc:
            raise _delivery_error(exc, language_of(inbox)) from None

    def prepare_content(
        self, settings: dict[str, Any], attributes: dict[str, Any], contact: dict[str, Any]
    ) -> PreparedContent | None:
        return content.prepare(settings, attributes, contact)

    def message_templates(self, settings: dict[str, Any], contact: dict[str, Any]) -> list[MessageTemplate]:
        return content.pickable(settings, contact)

    def admin_pages(self, inbox_id: int) -> list[tuple[str, str]]:
        return [("whatsapp.templates.link", f"/admin/inboxes/{inbox_id}/whatsapp-templates")]

    # --- connection check, background, HTTP -------------------------------------------------------

    def check(self, inbox: InboxConfig) -> list[CheckResult]:
        return run_check(inbox, graph_for(inbox))

    def poller(self, rt: Runtime) -> Poller | None:
        return WhatsAppService(rt)

    def install_http(self, app: FastAPI, hub: Any) -> Callable[[], Awaitable[None]] | None:
        app.include_router(router)
        app.include_router(template_pages.router)
        return None


CHANNEL = WhatsAppChannel
