"""The demo's live messaging: its WhatsApp inbox connected to the provider sandbox.

The demo's WhatsApp inbox is a real one (created by the inbox service with settings pointing at the
sandbox's Graph API and a random access token and app secret). The sandbox keeps its numbers in
memory, so each time the demo starts it is told again, over its control API
(``POST /_sandbox/whatsapp/numbers``), which number to play, the token and app secret to accept, and
the inbox's webhook URL to call. If the sandbox runs on another address than the one the inbox was
created with (another ``--sandbox-port``), the inbox's Graph API base URL is moved there first.
"""

from __future__ import annotations

from dataclasses import dataclass

from raccordo.demo.sandbox_inboxes import register_inboxes
from raccordo.platform.runtime import Runtime

# Where ``raccordo sandbox`` listens by default: the address a demo loaded without a running sandbox
# (``raccordo demo --no-serve``, the tests) points its WhatsApp inbox at.
DEFAULT_SANDBOX_URL = "http://127.0.0.1:8900"
GRAPH_VERSION = "v21.0"
# What the sandbox reports by itself after each accepted send: ``delivered`` a second later, as a
# phone that is on; ``read`` comes when the customer reads the answer on the customer phone page.
AUTO_STATUSES = ("delivered",)


@dataclass(frozen=True)
class SandboxLink:
    sandbox_url: str
    phone_numbers: tuple[str, ...]  # the phone number ids the sandbox now plays

    @property
    def phone_page(self) -> str:
        """The sandbox's customer phone page, where one writes as a customer and reads the answers."""
        return f"{self.sandbox_url}/_sandbox/whatsapp/phone"


def graph_base_url(sandbox_url: str) -> str:
    return f"{sandbox_url.rstrip('/')}/{GRAPH_VERSION}"


def connect_sandbox(
    rt: Runtime,
    slug: str,
    sandbox_url: str,
    *,
    public_url: str | None = None,
    status_delay: float = 1.0,
    timeout: float = 10.0,
) -> SandboxLink:
    """Point the tenant's WhatsApp inboxes at the sandbox and register their numbers with it; the
    webhooks go to ``public_url`` (the configured public URL unless given)."""
    sandbox_url = sandbox_url.rstrip("/")
    base_url = graph_base_url(sandbox_url)
    registrations = register_inboxes(
        rt,
        slug,
        sandbox_url,
        "/_sandbox/whatsapp/numbers",
        chosen=lambda inbox: inbox.channel == "whatsapp",
        settings=lambda inbox, hook: {**inbox.settings, "graph_base_url": base_url},
        registration=lambda inbox, secrets, hook: {
            "phone_number_id": inbox.settings["phone_number_id"],
            "waba_id": inbox.settings["waba_id"],
            "access_token": secrets["access_token"],
            "app_secret": secrets["app_secret"],
            "webhook_url": hook,
            "auto_statuses": list(AUTO_STATUSES),
            "status_delay": status_delay,
        },
        public_url=public_url,
        timeout=timeout,
    )
    return SandboxLink(sandbox_url, tuple(r["phone_number_id"] for r in registrations))
