"""The WhatsApp sandbox's memory: business numbers, customers, sent messages, media, templates.

Error shapes are Meta's Graph API error object (``{"error": {"message", "type", "code",
"error_data": {"messaging_product", "details"}, "fbtrace_id"}}``, as in
https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

WINDOW_SECONDS = 24 * 3600

# Templates every number's account starts with (shape of GET /{waba-id}/message_templates:
# https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates).
DEFAULT_TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "name": "hello_world",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hello, this is {{1}}. How can we help?"}],
    },
    {
        "name": "ripresa_contatto",
        "language": "it",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Buongiorno {{1}}, riprendiamo la sua richiesta {{2}}?"}],
    },
    {
        "name": "offerta_estate",
        "language": "it",
        "status": "PENDING",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Offerta estate: {{1}}"}],
    },
)


class SandboxError(Exception):
    """A refusal in Meta's error shape."""

    def __init__(self, http_status: int, code: int, message: str, details: str = "", kind: str = "OAuthException"):
        super().__init__(message)
        self.http_status, self.code, self.message, self.details, self.kind = http_status, code, message, details, kind

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": f"(#{self.code}) {self.message}",
                "type": self.kind,
                "code": self.code,
                "error_data": {"messaging_product": "whatsapp", "details": self.details or self.message},
                "fbtrace_id": uuid.uuid4().hex[:22],
            }
        }


@dataclass
class Media:
    id: str
    owner: str  # the phone number id whose token may read it
    content_type: str
    data: bytes
    filename: str | None = None


@dataclass
class Number:
    """One business phone number, as the app that owns it is set up at Meta."""

    phone_number_id: str
    waba_id: str
    access_token: str
    app_secret: str
    webhook_url: str
    display_phone_number: str = "+39 02 0000 0000"
    # Sends per second before 130429 (Meta's default throughput is 80/s).
    rate_per_second: int = 80
    # Errors to answer the next sends with, in order (a code each), whatever the payload.
    fail_next: list[int] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=lambda: [dict(t) for t in DEFAULT_TEMPLATES])
    # Customer wa_id -> when they last wrote (epoch seconds): the customer-service window.
    last_inbound: dict[str, float] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    # What customers wrote (for the customer phone page): id, wa_id, type, text, at.
    received: list[dict[str, Any]] = field(default_factory=list)
    recent_sends: list[float] = field(default_factory=list)
    # Statuses reported by themselves for every accepted send, ``status_delay`` seconds later (Meta
    # reports ``sent`` at once and the rest when the phone answers), optionally in reverse order.
    auto_statuses: list[str] = field(default_factory=list)
    status_delay: float = 1.0
    out_of_order: bool = False
    # The statuses are delivered before the send is answered (Meta's webhook can beat its own HTTP
    # answer): the product must hold a status for a wamid it has not recorded yet.
    statuses_first: bool = False
    # Webhook deliveries made for this number: (status code or error, attempt) for inspection.
    deliveries: list[dict[str, Any]] = field(default_factory=list)


class WhatsAppSandbox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.numbers: dict[str, Number] = {}
        self.media: dict[str, Media] = {}

    def number(self, phone_number_id: str) -> Number:
        found = self.numbers.get(phone_number_id)
        if found is None:
            raise SandboxError(
                400, 100, "Unsupported post request", f"Object with ID '{phone_number_id}' does not exist"
            )
        return found

    def authorize(self, authorization: str | None, phone_number_id: str) -> Number:
        number = self.number(phone_number_id)
        if authorization != f"Bearer {number.access_token}":
            raise SandboxError(401, 190, "Invalid OAuth access token - Cannot parse access token")
        return number

    def by_token(self, authorization: str | None) -> list[Number]:
        return [n for n in self.numbers.values() if authorization == f"Bearer {n.access_token}"]

    def by_waba(self, authorization: str | None, waba_id: str) -> Number:
        numbers = [n for n in self.by_token(authorization) if n.waba_id == waba_id]
        if not numbers:
            if not self.by_token(authorization):
                raise SandboxError(401, 190, "Invalid OAuth access token - Cannot parse access token")
            raise SandboxError(400, 100, "Unsupported get request", f"Object with ID '{waba_id}' does not exist")
        return numbers[0]

    def throttle(self, number: Number) -> None:
        now = time.monotonic()
        number.recent_sends = [t for t in number.recent_sends if now - t < 1.0]
        if len(number.recent_sends) >= number.rate_per_second:
            raise SandboxError(
                400,
                130429,
                "Rate limit hit",
                "Message failed to send because there were too many messages sent"
                " from this phone number in a short period of time",
            )
        number.recent_sends.append(now)

    def window_open(self, number: Number, wa_id: str, now: float | None = None) -> bool:
        last = number.last_inbound.get(wa_id)
        return last is not None and (now or time.time()) - last < WINDOW_SECONDS


SANDBOX = WhatsAppSandbox()
