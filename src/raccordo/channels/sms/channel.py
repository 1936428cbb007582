"""The SMS channel: one channel, the provider chosen per inbox (Twilio Messaging or Vonage Messages).

Inbound messages, status callbacks and MMS are the provider modules' (``twilio.py``, ``vonage.py``);
this module declares the settings form and the composer rules, verifies and dispatches by the
inbox's provider, and refuses what must not be sent: more segments than the inbox allows (the
composer and the reply service check it first, with a 422) and marketing messages to a contact who
answered STOP (``consent.py``). Setup, limits and troubleshooting: ``docs/channels/sms.md``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from raccordo.channels.base import (
    Capabilities,
    Channel,
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
from raccordo.channels.domain.composer import ComposerRules, sms_segments
from raccordo.channels.sms import twilio, vonage
from raccordo.channels.sms.background import SmsService
from raccordo.channels.sms.config import provider_of
from raccordo.channels.sms.consent import PURPOSE, apply_keyword
from raccordo.channels.sms.settings import SETTINGS_FORM, check_settings, sms_credentials_set
from raccordo.platform.i18n import translate
from raccordo.record.domain.events import MessageReceived

if TYPE_CHECKING:
    from collections.abc import Callable

    from raccordo.channels.base import Poller
    from raccordo.platform.runtime import Runtime

KIND = "sms"
# Twilio refuses a body over 1600 characters (error 21617); Vonage's limit is higher, ours is one.
MAX_TEXT = 1600
DEFAULT_MAX_SEGMENTS = 5
_TWIML_EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class SmsChannel(Channel):
    kind = KIND
    capabilities = Capabilities(text=True, html=False, default_capacity=4)
    features = frozenset({Feature.WEBHOOK, Feature.DELIVERY_STATUS, Feature.CONNECTION_CHECK, Feature.POLLING})
    reply_identity_kinds = ("phone",)
    # Vonage's signed-webhook JWT travels in Authorization: kept with the raw row so it verifies again.
    kept_headers = frozenset({"authorization"})
    composer = ComposerRules(max_length=MAX_TEXT, attachments=False, sms_segments=True)
    settings_form = SETTINGS_FORM

    def composer_rules(self, settings: dict[str, Any]) -> ComposerRules:
        limit = settings.get("max_segments") or DEFAULT_MAX_SEGMENTS
        return replace(self.composer, max_sms_segments=int(limit))

    def validate_settings(
        self, settings: dict[str, Any], secrets: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        return check_settings(self.settings_form.validate(settings, secrets))

    # --- inbound ----------------------------------------------------------------------------------

    def parse_inbound(self, inbox: InboxConfig, request: InboundRequest) -> list[InboundEvent | DeliveryReport]:
        if provider_of(inbox) == "vonage":
            return vonage.parse(inbox, request)
        return twilio.parse(inbox, request)

    def webhook_response(
        self, inbox: InboxConfig, request: InboundRequest, events: list[InboundEvent | DeliveryReport]
    ) -> WebhookResponse | None:
        # Twilio reads the answer as TwiML (an empty <Response> sends nothing back); Vonage wants a 200.
        if provider_of(inbox) == "twilio":
            return WebhookResponse(_TWIML_EMPTY, "application/xml")
        return None

    # --- outbound ---------------------------------------------------------------------------------

    def can_deliver(self, settings: dict[str, Any], secret_names: frozenset[str] = frozenset()) -> bool:
        return sms_credentials_set(settings, secret_names)

    def send(self, inbox: InboxConfig, message: OutboundMessage) -> str:
        language = "en" if inbox.settings.get("language") == "en" else "it"
        if message.recipient is None or not _E164.match(message.recipient.value):
            raise DeliveryError(
                "no E.164 phone number to send the SMS to", permanent=True, reason="sms.error.no_number"
            )
        if message.attributes.get("marketing") and _withdrew(message.contact):
            raise DeliveryError(
                translate("sms.error.opted_out", language), permanent=True, reason="sms.error.opted_out"
            )
        limit = int(inbox.settings.get("max_segments") or DEFAULT_MAX_SEGMENTS)
        parts = sms_segments(message.text)
        if parts > limit:
            raise DeliveryError(
                f"{parts} SMS segments, the inbox allows {limit}",
                permanent=True,
                reason="sms.error.too_many_segments",
                params={"segments": str(parts), "limit": str(limit)},
            )
        if provider_of(inbox) == "vonage":
            return vonage.send(inbox, message.recipient.value, message.text, message.idempotency_key)
        return twilio.send(inbox, message.recipient.value, message.text)

    # --- check, background ------------------------------------------------------------------------

    def check(self, inbox: InboxConfig) -> list[CheckResult]:
        return vonage.check(inbox) if provider_of(inbox) == "vonage" else twilio.check(inbox)

    def poller(self, rt: Runtime) -> Poller | None:
        return SmsService(rt)

    def subscriptions(self) -> list[tuple[type, Callable[..., None]]]:
        return [(MessageReceived, apply_keyword)]


def _withdrew(contact: dict[str, Any]) -> bool:
    """The contact answered STOP (or an agent recorded the withdrawal) for SMS marketing."""
    decision = (contact.get("consent") or {}).get(PURPOSE)
    return isinstance(decision, dict) and decision.get("granted") is False


CHANNEL = SmsChannel
