"""The demo's live Telegram: its Telegram inbox connected to the provider sandbox's Bot API, in polling mode.

The demo loads its Telegram inbox as history only (a row with no settings, so the history's
conversations have their inbox). Each time the demo starts, ``connect_telegram`` makes it a real
inbox through the inbox service: polling mode (the demo needs no public URL: the worker asks the
sandbox for updates, as an installation on a laptop asks Telegram), the sandbox as the Bot API base
URL, and a bot token generated once. The sandbox keeps its bots in memory, so it is told again
which token to accept, and which customers of the history started the bot (so the agents' replies
reach them). Customers then write on the sandbox's Telegram phone page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from raccordo.accounts.domain.actor import system_actor
from raccordo.channels.services.inboxes import list_inboxes, reveal_secrets
from raccordo.demo.sandbox_inboxes import save_settings
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Contact, ContactIdentity
from raccordo.record.services.import_contacts import tenant_by_slug

BOT_USERNAME = "bottega_digitale_bot"


@dataclass(frozen=True)
class TelegramLink:
    sandbox_url: str
    bot_id: int | None  # None: the tenant has no Telegram inbox

    @property
    def phone_page(self) -> str:
        return f"{self.sandbox_url}/_sandbox/telegram/phone"


def _token() -> str:
    return f"{secrets.randbelow(9 * 10**9) + 10**9}:{secrets.token_urlsafe(33)}"


def connect_telegram(rt: Runtime, slug: str, sandbox_url: str, *, timeout: float = 10.0) -> TelegramLink:
    """Make the tenant's Telegram inbox live against the sandbox and tell the sandbox about its bot."""
    sandbox_url = sandbox_url.rstrip("/")
    with unit_of_work(rt.sessions) as session:
        tenant_id = tenant_by_slug(session, slug).id
        actor = system_actor(tenant_id)
        inbox = next((i for i in list_inboxes(session, actor) if i.channel == "telegram" and i.active), None)
        if inbox is None:
            return TelegramLink(sandbox_url, None)
        token = reveal_secrets(session, rt.secretbox, actor, inbox.id).get("bot_token") or _token()
        wanted = {**inbox.settings, "mode": "polling", "api_base_url": sandbox_url}
        wanted.setdefault("language", "it")
        # ``wanted`` always holds the mode, so it differs from an inbox loaded without settings.
        save_settings(session, rt, actor, inbox, wanted, secrets_={"bot_token": token})
        customers: list[dict[str, Any]] = [
            {"id": int(value), "first_name": (name or "Cliente").split(" ")[0]}
            for value, name in session.execute(
                select(ContactIdentity.value, Contact.name)
                .join(Contact, Contact.id == ContactIdentity.contact_id)
                .where(ContactIdentity.tenant_id == tenant_id, ContactIdentity.kind == "telegram")
            )
            if value.isdigit()
        ]
    # After the commit: the sandbox is told only about settings that are saved.
    answer = httpx.post(
        f"{sandbox_url}/_sandbox/telegram/bots",
        json={"token": token, "username": BOT_USERNAME, "first_name": "Bottega Digitale"},
        timeout=timeout,
    )
    answer.raise_for_status()
    bot_id = int(answer.json()["id"])
    httpx.post(
        f"{sandbox_url}/_sandbox/telegram/bots/{bot_id}/control", json={"started": customers}, timeout=timeout
    ).raise_for_status()
    return TelegramLink(sandbox_url, bot_id)
