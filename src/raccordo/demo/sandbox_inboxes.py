"""What the demo's live channels share when they connect an inbox to the provider sandbox: find the
demo tenant's active inboxes of a kind, move their settings to the sandbox (saved through the inbox
service, only when they change), and, once that is committed, tell the sandbox over its control API
which account to play for each (the sandbox keeps its accounts in memory, so this is done at each start).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor, system_actor
from raccordo.channels.services.inboxes import list_inboxes, reveal_secrets, update_inbox, webhook_url
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.services.import_contacts import tenant_by_slug

# An inbox (as ``list_inboxes`` gives it) and the URL its provider calls with webhooks.
Settings = Callable[[Any, str], dict[str, Any]]
# An inbox, its revealed secrets and its webhook URL: what the sandbox is told about it.
Registration = Callable[[Any, dict[str, str], str], dict[str, Any]]


def save_settings(
    session: Session,
    rt: Runtime,
    actor: Actor,
    inbox: Any,
    wanted: dict[str, Any],
    *,
    secrets_: dict[str, str] | None = None,
) -> None:
    """Save ``wanted`` as the inbox's settings (and ``secrets_`` with them) unless they already are."""
    if wanted != inbox.settings:
        update_inbox(
            session,
            rt.secretbox,
            actor,
            inbox.id,
            name=None,
            settings=wanted,
            secrets_=secrets_,
            business_hours=None,
            active=None,
        )


def register_inboxes(
    rt: Runtime,
    slug: str,
    sandbox_url: str,
    control_path: str,
    *,
    chosen: Callable[[Any], bool],
    settings: Settings,
    registration: Registration,
    public_url: str | None = None,
    timeout: float = 10.0,
) -> list[dict[str, Any]]:
    """For each active inbox of the tenant that is ``chosen``: its settings moved to ``settings``, then
    ``registration`` POSTed to ``{sandbox_url}{control_path}``. The registrations, in inbox order."""
    public_url = public_url or rt.settings.resolved_public_url
    registrations: list[dict[str, Any]] = []
    with unit_of_work(rt.sessions) as session:
        actor = system_actor(tenant_by_slug(session, slug).id)
        for inbox in list_inboxes(session, actor):
            if not inbox.active or not chosen(inbox):
                continue
            hook = webhook_url(public_url, inbox.channel, inbox.identifier)
            save_settings(session, rt, actor, inbox, settings(inbox, hook))
            secrets = reveal_secrets(session, rt.secretbox, actor, inbox.id)
            registrations.append(registration(inbox, secrets, hook))
    # After the commit: the sandbox is told only about settings that are saved.
    for body in registrations:
        answer = httpx.post(f"{sandbox_url}{control_path}", json=body, timeout=timeout)
        answer.raise_for_status()
    return registrations
