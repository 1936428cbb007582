"""The demo's live SMS: its SMS inbox connected to the provider sandbox's Twilio.

The demo's SMS inbox is a real one (created by the inbox service with settings pointing at the
sandbox's Twilio API and a random auth token). The sandbox keeps its accounts in memory, so each
time the demo starts it is told again, over its control API (``POST /_sandbox/twilio/accounts``),
which account and number to play, the token to sign with and the inbox's webhook URL; the inbox's
status callback URL and API base URL are moved to the addresses of this start first.
"""

from __future__ import annotations

from dataclasses import dataclass

from raccordo.demo.sandbox_inboxes import register_inboxes
from raccordo.platform.runtime import Runtime

KIND = "sms"
# What the sandbox reports by itself after each accepted send: sent, then delivered a moment later.
AUTO_STATUSES = ("sent", "delivered")


@dataclass(frozen=True)
class SmsLink:
    sandbox_url: str
    numbers: tuple[str, ...]  # the business numbers the sandbox now plays

    @property
    def phone_page(self) -> str:
        """The sandbox's SMS customer phone page."""
        return f"{self.sandbox_url}/_sandbox/sms/phone"


def connect_sms_sandbox(
    rt: Runtime,
    slug: str,
    sandbox_url: str,
    *,
    public_url: str | None = None,
    status_delay: float = 1.0,
    timeout: float = 10.0,
) -> SmsLink:
    """Point the tenant's Twilio SMS inboxes at the sandbox and register their accounts with it."""
    sandbox_url = sandbox_url.rstrip("/")
    registrations = register_inboxes(
        rt,
        slug,
        sandbox_url,
        "/_sandbox/twilio/accounts",
        chosen=lambda inbox: inbox.channel == KIND and inbox.settings.get("provider") == "twilio",
        settings=lambda inbox, hook: {
            **inbox.settings,
            "twilio_api_base_url": sandbox_url,
            "status_callback_url": hook,
        },
        registration=lambda inbox, secrets, hook: {
            "account_sid": inbox.settings["twilio_account_sid"],
            "auth_token": secrets["twilio_auth_token"],
            "numbers": [inbox.settings["sender"]],
            "webhook_url": hook,
            "auto_statuses": list(AUTO_STATUSES),
            "status_delay": status_delay,
        },
        public_url=public_url,
        timeout=timeout,
    )
    return SmsLink(sandbox_url, tuple(n for r in registrations for n in r["numbers"]))
