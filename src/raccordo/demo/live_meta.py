"""The demo's live Messenger: its inbox connected to the provider sandbox's Messenger Platform.

The demo's Messenger inbox is a real one (created by the inbox service with its Graph API base URL at
the sandbox and a random page token and app secret). The sandbox keeps its pages in memory, so each
time the demo starts it is told again, over its control API (``POST /_sandbox/meta/pages``), which
page to play, the token and app secret to accept, and the inbox's webhook URL; if the sandbox runs
elsewhere than where the inbox was created, the inbox's Graph API base URL is moved there first.
The demo's Instagram inbox (an Instagram professional account with its own linked page) is connected
the same way, so both show on the sandbox's customer page.
"""

from __future__ import annotations

from dataclasses import dataclass

from raccordo.demo.sandbox_inboxes import register_inboxes
from raccordo.platform.runtime import Runtime

GRAPH_PATH = "messenger/v21.0"
META_KINDS = ("messenger", "instagram")
# The customer's app reports delivery by itself; ``read`` comes when the customer page reads the answers.
AUTO_STATUSES = ("delivered",)


@dataclass(frozen=True)
class MetaLink:
    sandbox_url: str
    pages: tuple[str, ...]  # the page ids the sandbox now plays
    # Per page, the channel (messenger, instagram) and the id webhooks and identities name (the page,
    # or the Instagram account).
    kinds: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()

    @property
    def customer_page(self) -> str:
        return f"{self.sandbox_url}/_sandbox/meta/phone"

    def of_kind(self, kind: str) -> tuple[str, ...]:
        """The ids (page, or Instagram account) the sandbox plays for ``kind``."""
        return tuple(account for k, account in zip(self.kinds, self.accounts, strict=True) if k == kind)


def graph_base_url(sandbox_url: str) -> str:
    return f"{sandbox_url.rstrip('/')}/{GRAPH_PATH}"


def connect_meta_sandbox(
    rt: Runtime,
    slug: str,
    sandbox_url: str,
    *,
    public_url: str | None = None,
    status_delay: float = 1.0,
    timeout: float = 10.0,
) -> MetaLink:
    """Point the tenant's Messenger and Instagram inboxes at the sandbox and register their pages with it."""
    sandbox_url = sandbox_url.rstrip("/")
    base_url = graph_base_url(sandbox_url)
    registrations = register_inboxes(
        rt,
        slug,
        sandbox_url,
        "/_sandbox/meta/pages",
        chosen=lambda inbox: inbox.channel in META_KINDS and bool(inbox.settings.get("page_id")),
        settings=lambda inbox, hook: {**inbox.settings, "graph_base_url": base_url},
        registration=lambda inbox, secrets, hook: {
            "kind": inbox.channel,
            "page_id": inbox.settings["page_id"],
            "account_id": inbox.settings.get("account_id") or inbox.settings["page_id"],
            "access_token": secrets["access_token"],
            "app_secret": secrets["app_secret"],
            "webhook_url": hook,
            "name": inbox.name,
            "auto_statuses": list(AUTO_STATUSES),
            "status_delay": status_delay,
        },
        public_url=public_url,
        timeout=timeout,
    )
    return MetaLink(
        sandbox_url,
        tuple(r["page_id"] for r in registrations),
        tuple(r["kind"] for r in registrations),
        tuple(r["account_id"] for r in registrations),
    )
