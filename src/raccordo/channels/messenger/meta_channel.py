"""What Messenger and Instagram Direct share: one Graph messaging channel, parametrized by kind.

Inbound: Meta POSTs the page's (or Instagram account's) messaging events, signed with
``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the app secret), to the inbox's webhook
URL or to the app-level URL (``routes.py``); Meta's GET verification is answered with
``hub.challenge`` when ``hub.verify_token`` is the inbox's (Meta's webhook setup guide:
https://developers.facebook.com/docs/graph-api/webhooks/getting-started). Events are normalized
in ``inbound.py``; attachments are downloaded after the message is stored (``media.py``).

Outbound: ``POST /{page-id}/messages`` (``graph.py``, payloads in ``outbound.py``). Free-form
replies within 24 hours of the customer's last message (``messaging_type: RESPONSE``); when the
inbox says the page may use the ``HUMAN_AGENT`` tag, an agent's reply may go up to 7 days after
it (``MESSAGE_TAG``): the composer's window is then 7 days, and a send Meta refuses as outside
the standard window is sent again with the tag. Errors map to retry or permanent failure with an
agent-facing reason (``errors.py``). Setup: ``docs/channels/messenger.md``, ``docs/channels/instagram.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

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
    OutboundMessage,
    WebhookResponse,
)
from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.messenger import inbound, outbound
from raccordo.channels.messenger.check import run_check
from raccordo.channels.messenger.config import (
    account_id,
    account_id_of,
    graph_for,
    human_agent_allowed,
    language_of,
    page_id,
)
from raccordo.channels.messenger.graph import Graph, SendFailure
from raccordo.channels.messenger.media import MediaService
from raccordo.channels.messenger.routes import router_for
from raccordo.platform.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from fastapi import FastAPI

    from raccordo.channels.base import Poller
    from raccordo.platform.runtime import Runtime

WINDOW_SECONDS = 24 * 3600
HUMAN_AGENT_WINDOW_SECONDS = 7 * 24 * 3600
SIGNATURE_HEADER = "x-hub-signature-256"


def signature(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


class MetaMessagingChannel(Channel):
    """A Graph API messaging channel; subclasses set ``kind``, ``settings_form`` and ``composer``."""

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
    max_text: ClassVar[int] = 2000

    def composer_rules(self, settings: dict[str, Any]) -> ComposerRules:
        """The 7-day window of the HUMAN_AGENT tag where the page may use it, else the standard 24 hours."""
        if human_agent_allowed(settings):
            return replace(
                self.composer,
                reply_window_seconds=HUMAN_AGENT_WINDOW_SECONDS,
                standard_window_seconds=WINDOW_SECONDS,
            )
        return self.composer

    def validate_settings(
        self, settings: dict[str, Any], secrets: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """The form's checks, then Meta's ids: numeric, as webhook entries and the Graph API name them."""
        settings, secrets = self.settings_form.validate(settings, secrets)
        for name in ("page_id", "account_id"):
            value = settings.get(name)
            if value is not None and not str(value).isdigit():
                raise InvalidInput("meta.id_not_numeric", field=f"settings.{name}", value=str(value)[:100])
        return settings, secrets

    # --- inbound ----------------------------------------------------------------------------------

    def handshake(self, inbox: InboxConfig, request: InboundRequest) -> WebhookResponse:
        token = request.query_value("hub.verify_token") or ""
        expected = inbox.secrets.get("verify_token", "")
        if request.query_value("hub.mode") != "subscribe" or not expected or not hmac.compare_digest(token, expected):
            raise ChannelRejected("meta.verify_token_mismatch", status=403)
        return WebhookResponse((request.query_value("hub.challenge") or "").encode(), "text/plain; charset=utf-8")

    def parse_inbound(self, inbox: InboxConfig, request: InboundRequest) -> list[InboundEvent | DeliveryReport]:
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not given:
            raise ChannelRejected("meta.signature_missing", status=401)
        secret = inbox.secrets.get("app_secret", "")
        if not secret or not hmac.compare_digest(given.encode(), signature(secret, request.body).encode()):
            raise ChannelRejected("meta.signature_mismatch", status=401)
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ChannelRejected("channel.payload_invalid", status=422, field="body", reason=str(exc)[:200]) from None
        if not isinstance(data, dict) or data.get("object") != inbound.OBJECTS[self.kind]:
            raise ChannelRejected(
                "channel.payload_invalid", status=422, field="object", reason=f"not a {self.kind} webhook"
            )
        return inbound.parse(data, self.kind, account_id(inbox), language_of(inbox))

    # --- outbound ---------------------------------------------------------------------------------

    def can_deliver(self, settings: dict[str, Any], secret_names: frozenset[str] = frozenset()) -> bool:
        # The Send API is called for the page with the page's access token.
        return bool(settings.get("page_id")) and "access_token" in secret_names

    def can_address(self, settings: dict[str, Any], identity_value: str) -> bool:
        # A PSID/IGSID is scoped to the page (account) the customer wrote to: another page cannot use it.
        page, scoped = inbound.scoped_id(identity_value)
        return bool(scoped) and page in ("", account_id_of(settings))

    def send(self, inbox: InboxConfig, message: OutboundMessage) -> str:
        given = message.recipient.value if message.recipient and message.recipient.kind == self.kind else None
        psid = inbound.recipient_for(self.kind, account_id(inbox), given, message.contact.get("identities") or [])
        if psid is None:
            # Page-scoped ids are meaningless to another page: Meta would answer "no matching user".
            if given or any(i.get("kind") == self.kind for i in message.contact.get("identities") or []):
                raise DeliveryError(
                    "the customer's id belongs to another page", permanent=True, reason="meta.error.other_page"
                )
            raise DeliveryError(f"no {self.kind} id to send to", permanent=True, reason="meta.error.no_recipient")
        graph, page = graph_for(inbox), page_id(inbox)
        tag = outbound.HUMAN_AGENT if message.attributes.get("messaging_tag") == outbound.HUMAN_AGENT else None
        try:
            messages = self._messages(graph, page, message)
            try:
                return self._send_all(graph, page, psid, messages, tag)
            except SendFailure as exc:
                # Past 24 hours Meta refuses RESPONSE; an approved page's agent may still answer with the tag.
                if not (exc.error.outside_window and tag is None and human_agent_allowed(inbox.settings)):
                    raise
                return self._send_all(graph, page, psid, messages, outbound.HUMAN_AGENT)
        except outbound.OutboundInvalid as exc:
            raise DeliveryError(
                str(exc), permanent=True, reason="meta.error.invalid", params={"rule": str(exc)}
            ) from None
        except SendFailure as exc:
            raise DeliveryError(
                exc.error.describe(),
                permanent=not exc.error.retryable,
                retry_after=exc.retry_after,
                reason=exc.error.reason,
                params={"code": str(exc.error.code or exc.error.http_status or "-")},
            ) from None

    def _messages(self, graph: Graph, page: str, message: OutboundMessage) -> list[dict[str, Any]]:
        """The Send API messages of one reply: its text (with quick replies), then its file."""
        replies = outbound.quick_replies(message.attributes.get("quick_replies"))
        parts = [outbound.text(message.text, self.max_text, replies)] if message.text.strip() else []
        for attachment in message.attachments[:1]:
            kind = outbound.attachment_kind(attachment.content_type)
            data = Path(attachment.path).read_bytes()
            attachment_id = graph.upload(page, kind, attachment.filename, attachment.content_type, data)
            parts.append(outbound.attachment(kind, attachment_id))
        if not parts:
            raise outbound.OutboundInvalid("a message needs text or a file")
        return parts

    def _send_all(self, graph: Graph, page: str, psid: str, messages: list[dict[str, Any]], tag: str | None) -> str:
        """Send each part; the last one's mid is the message's (delivery and read watermarks cover the others)."""
        mid = ""
        for part in messages:
            mid = graph.send(page, outbound.envelope(psid, part, tag=tag))
        return mid

    # --- connection check, background, HTTP -------------------------------------------------------

    def check(self, inbox: InboxConfig) -> list[CheckResult]:
        return run_check(inbox, graph_for(inbox))

    def poller(self, rt: Runtime) -> Poller | None:
        return MediaService(rt, self.kind)

    def install_http(self, app: FastAPI, hub: Any) -> Callable[[], Awaitable[None]] | None:
        app.include_router(router_for(self.kind))
        return None
