"""The demo's live SMS: its SMS inbox connected to the provider sandbox's Twilio.

The demo's SMS inbox is a real one (created by the inbox service with settings pointing at the
sandbox's Twilio API and a random auth token). The sandbox keeps its accounts in memory, so each
time the demo starts it is told again, over its control API (``POST /_sandbox/twilio/accounts``),
which account and number to play, the token to sign with and the inbox's webhook URL; the inbox's
status callback URL and API base URL are moved to the addresses of this start first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from raccordo.accounts.domain.actor import system_actor
from raccordo.channels.services.inboxes import list_inboxes, reveal_secrets, update_inbox, webhook_url
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.services.import_contacts import tenant_by_slug

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
    public_url = public_url or rt.settings.resolved_public_url
    registrations: list[dict[str, Any]] = []
    with unit_of_work(rt.sessions) as session:
        actor = system_actor(tenant_by_slug(session, slug).id)
        for inbox in list_inboxes(session, actor):
            if inbox.channel != KIND or not inbox.active or inbox.settings.get("provider") != "twilio":
                continue
            hook = webhook_url(public_url, inbox.channel, inbox.identifier)
            wanted = {**inbox.settings, "twilio_api_base_url": sandbox_url, "status_callback_url": hook}
            if wanted != inbox.settings:
                update_inbox(
                    session,
                    rt.secretbox,
                    actor,
                    inbox.id,
                    name=None,
                    settings=wanted,
                    secrets_=None,
                    business_hours=None,
                    active=None,
                )
            secrets = reveal_secrets(session, rt.secretbox, actor, inbox.id)
            registrations.append(
                {
                    "account_sid": inbox.settings["twilio_account_sid"],
                    "auth_token": secrets["twilio_auth_token"],
                    "numbers": [inbox.settings["sender"]],
                    "webhook_url": hook,
                    "auto_statuses": list(AUTO_STATUSES),
                    "status_delay": status_delay,
                }
            )
    # After the commit: the sandbox is told only about settings that are saved.
    for registration in registrations:
        answer = httpx.post(f"{sandbox_url}/_sandbox/twilio/accounts", json=registration, timeout=timeout)
        answer.raise_for_status()
    return SmsLink(sandbox_url, tuple(n for r in registrations for n in r["numbers"]))
