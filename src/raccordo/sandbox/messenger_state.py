"""The Messenger/Instagram sandbox's memory: pages, their customers, sends, files, and the webhook calls it made.

Error shapes are the Graph API error object (``{"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}``) and the codes Meta documents for the Send API
(https://developers.facebook.com/documentation/business-messaging/messenger-platform/error-codes):
190 (token), 100 (bad parameter), 10/2018278 (outside the allowed window), 551 (person
unavailable), 613 (rate limit), 2 (temporary).
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

WINDOW_SECONDS = 24 * 3600
HUMAN_AGENT_SECONDS = 7 * 24 * 3600

# (http status, code, subcode, message) of each error the control API can queue for the next sends.
KNOWN_ERRORS: dict[int, tuple[int, int | None, str]] = {
    2: (503, None, "An unexpected error has occurred. Please retry your request later."),
    4: (400, None, "Application request limit reached"),
    10: (400, 2018278, "This message is sent outside of allowed window."),
    32: (400, None, "Page request limit reached"),
    100: (400, None, "Invalid parameter"),
    190: (401, None, "Invalid OAuth access token - Cannot parse access token"),
    551: (400, 1545041, "This person isn't available right now."),
    613: (400, None, "Calls to this api have exceeded the rate limit."),
    1200: (500, None, "Temporary send message failure. Please try again later"),
}


class SandboxError(Exception):
    def __init__(self, http_status: int, code: int, message: str, subcode: int | None = None) -> None:
        super().__init__(message)
        self.http_status, self.code, self.message, self.subcode = http_status, code, message, subcode

    @classmethod
    def known(cls, code: int) -> SandboxError:
        status, subcode, message = KNOWN_ERRORS.get(code, (400, None, "Queued failure"))
        return cls(status, code, message, subcode)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": f"(#{self.code}) {self.message}",
            "type": "OAuthException",
            "code": self.code,
            "fbtrace_id": uuid.uuid4().hex[:22],
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return {"error": error}


@dataclass
class Media:
    id: str
    content_type: str
    data: bytes
    filename: str


@dataclass
class Page:
    """A Facebook page (``kind`` messenger) or an Instagram account with its linked page (``kind`` instagram)."""

    kind: str
    page_id: str
    account_id: str  # the id webhook entries name: the page id, or the Instagram account id
    access_token: str
    app_secret: str
    webhook_url: str
    name: str = "Raccordo Sandbox"
    subscribed: bool = True
    rate_per_second: int = 40
    fail_next: list[int] = field(default_factory=list)
    # Customer scoped id -> when they last wrote (epoch seconds): the messaging window.
    last_inbound: dict[str, float] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    recent_sends: list[float] = field(default_factory=list)
    # Events reported by themselves after each accepted send ("delivered", "read"), ``status_delay`` later.
    auto_statuses: list[str] = field(default_factory=list)
    status_delay: float = 0.5
    deliveries: list[dict[str, Any]] = field(default_factory=list)


class MetaSandbox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pages: dict[str, Page] = {}  # by page id
        self.media: dict[str, Media] = {}

    def page(self, page_id: str) -> Page:
        found = self.pages.get(page_id) or next((p for p in self.pages.values() if p.account_id == page_id), None)
        if found is None:
            raise SandboxError(400, 100, f"Unsupported request - Object with ID '{page_id}' does not exist")
        return found

    def authorize(self, authorization: str | None, page_id: str) -> Page:
        if page_id == "me":
            found = next((p for p in self.pages.values() if authorization == f"Bearer {p.access_token}"), None)
            if found is None:
                raise SandboxError(401, 190, "Invalid OAuth access token - Cannot parse access token")
            return found
        page = self.page(page_id)
        if authorization != f"Bearer {page.access_token}":
            raise SandboxError(401, 190, "Invalid OAuth access token - Cannot parse access token")
        return page

    def throttle(self, page: Page) -> None:
        now = time.monotonic()
        page.recent_sends = [t for t in page.recent_sends if now - t < 1.0]
        if len(page.recent_sends) >= page.rate_per_second:
            raise SandboxError.known(613)
        page.recent_sends.append(now)

    def window(self, page: Page, psid: str, tag: str | None, now: float | None = None) -> None:
        """Meta's messaging window: 24 hours after the customer's last message, 7 days with HUMAN_AGENT."""
        last = page.last_inbound.get(psid)
        allowed = HUMAN_AGENT_SECONDS if tag == "HUMAN_AGENT" else WINDOW_SECONDS
        if last is None or (now or time.time()) - last >= allowed:
            raise SandboxError.known(10)


SANDBOX = MetaSandbox()
