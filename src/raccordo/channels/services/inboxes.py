"""Inboxes: a configured channel instance of a tenant. Secrets are encrypted at rest and never read back.

A channel that declares ``Feature.PROVISIONING`` has its webhook registered with the provider when
an inbox is saved active and removed when it is deactivated: a ``channels.provision`` job, scheduled
in the same transaction and run by the worker after the commit, retried with backoff (the provider
may be away), one row per inbox so the last save wins.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.channels.base import Channel, Feature, InboxConfig, channel_kinds, get_channel
from raccordo.channels.models import Inbox
from raccordo.platform import jobs
from raccordo.platform.errors import InvalidInput
from raccordo.platform.hours import parse_business_hours
from raccordo.platform.secretbox import SecretBox
from raccordo.record.services.records import audit, get_owned


def create_inbox(
    session: Session,
    box: SecretBox,
    actor: Actor,
    *,
    name: str,
    channel: str,
    settings: dict[str, Any],
    secrets_: dict[str, str],
    business_hours: dict[str, Any] | None,
) -> tuple[Inbox, dict[str, str]]:
    """Returns the inbox and its secrets once (e.g. a generated HMAC secret for the integrator)."""
    actor.require(Permission.MANAGE_INBOXES)
    implementation = get_channel(channel)
    if implementation is None:
        raise InvalidInput("inbox.channel_unknown", field="channel", value=channel, known=", ".join(channel_kinds()))
    settings, secrets_ = implementation.validate_settings(dict(settings), dict(secrets_))
    hours = parse_business_hours(business_hours or {}).to_json() if business_hours else {}
    inbox = Inbox(
        tenant_id=actor.tenant_id,
        name=name,
        channel=channel,
        identifier=secrets.token_urlsafe(12),
        settings=settings,
        secrets_encrypted=box.seal(secrets_),
        business_hours=hours,
    )
    session.add(inbox)
    session.flush()
    audit(session, actor, "inbox.create", "inbox", inbox.id, {"name": name, "channel": channel})
    _schedule_provisioning(session, implementation, inbox)
    return inbox, secrets_


def update_inbox(
    session: Session,
    box: SecretBox,
    actor: Actor,
    inbox_id: int,
    *,
    name: str | None,
    settings: dict[str, Any] | None,
    secrets_: dict[str, str] | None,
    business_hours: dict[str, Any] | None,
    active: bool | None,
) -> Inbox:
    actor.require(Permission.MANAGE_INBOXES)
    inbox = get_owned(session, Inbox, actor.tenant_id, inbox_id)
    implementation = get_channel(inbox.channel)
    if implementation is None:
        raise InvalidInput("channel.not_installed", field="channel", channel=inbox.channel)
    current_secrets = box.open(inbox.secrets_encrypted)
    new_settings = dict(settings) if settings is not None else dict(inbox.settings)
    merged_secrets = {**current_secrets, **(secrets_ or {})}
    new_settings, merged_secrets = implementation.validate_settings(new_settings, merged_secrets)
    inbox.settings = new_settings
    inbox.secrets_encrypted = box.seal(merged_secrets)
    if name is not None:
        inbox.name = name
    if business_hours is not None:
        inbox.business_hours = parse_business_hours(business_hours).to_json() if business_hours else {}
    if active is not None:
        inbox.active = active
    audit(
        session,
        actor,
        "inbox.update",
        "inbox",
        inbox.id,
        {"name": inbox.name, "secrets_changed": sorted((secrets_ or {}).keys())},
    )
    session.flush()
    _schedule_provisioning(session, implementation, inbox)
    return inbox


def list_inboxes(session: Session, actor: Actor) -> list[Inbox]:
    actor.require(Permission.READ)
    return list(session.scalars(select(Inbox).where(Inbox.tenant_id == actor.tenant_id).order_by(Inbox.id)))


def reveal_secrets(session: Session, box: SecretBox, actor: Actor, inbox_id: int) -> dict[str, str]:
    """Admins may read the secrets an integrator needs (e.g. to configure signing); audited."""
    actor.require(Permission.MANAGE_INBOXES)
    inbox = get_owned(session, Inbox, actor.tenant_id, inbox_id)
    audit(session, actor, "inbox.reveal_secrets", "inbox", inbox.id)
    return box.open(inbox.secrets_encrypted)


def check_config(
    session: Session,
    box: SecretBox,
    actor: Actor,
    *,
    inbox_id: int | None,
    channel: str | None,
    settings: dict[str, Any] | None,
    secrets_: dict[str, str] | None,
) -> tuple[Any, Any]:
    """The channel and the inbox configuration to try: a saved inbox (optionally with changed
    settings and secrets, not saved) or unsaved ones. The caller runs ``channel.check`` outside
    the transaction, since it talks to the provider."""
    actor.require(Permission.MANAGE_INBOXES)
    if inbox_id is not None:
        inbox = get_owned(session, Inbox, actor.tenant_id, inbox_id)
        implementation = get_channel(inbox.channel)
        if implementation is None:
            raise InvalidInput("channel.not_installed", field="channel", channel=inbox.channel)
        merged_settings = dict(settings) if settings is not None else dict(inbox.settings)
        merged_secrets = {**box.open(inbox.secrets_encrypted), **(secrets_ or {})}
        merged_settings, merged_secrets = implementation.validate_settings(merged_settings, merged_secrets)
        return implementation, InboxConfig(inbox.id, inbox.identifier, merged_settings, merged_secrets)
    implementation = get_channel(channel or "")
    if implementation is None:
        raise InvalidInput(
            "inbox.channel_unknown", field="channel", value=channel or "", known=", ".join(channel_kinds())
        )
    checked_settings, checked_secrets = implementation.validate_settings(dict(settings or {}), dict(secrets_ or {}))
    return implementation, InboxConfig(0, "", checked_settings, checked_secrets)


# --- provisioning ---------------------------------------------------------------------------------

PROVISION_JOB = "channels.provision"


def webhook_url(public_url: str, channel: str, identifier: str) -> str:
    """The one webhook route of an inbox, as providers call it."""
    return f"{public_url.rstrip('/')}/api/v1/channels/{channel}/{identifier}/messages"


def _schedule_provisioning(session: Session, implementation: Channel, inbox: Inbox) -> None:
    if not implementation.supports(Feature.PROVISIONING):
        return
    action = "register" if inbox.active else "unregister"
    jobs.schedule(
        session,
        PROVISION_JOB,
        datetime.now(UTC),
        {"inbox_id": inbox.id, "action": action},
        tenant_id=inbox.tenant_id,
        dedupe_key=f"{PROVISION_JOB}:{inbox.id}",
    )


@jobs.job_handler(PROVISION_JOB)
def _provision_job(ctx: jobs.JobContext) -> dict[str, Any]:
    inbox = ctx.session.get(Inbox, int(ctx.payload["inbox_id"]))
    implementation = get_channel(inbox.channel) if inbox is not None else None
    if inbox is None or implementation is None:
        return {"skipped": "inbox or channel gone"}
    config = InboxConfig(
        inbox.id, inbox.identifier, dict(inbox.settings), ctx.rt.secretbox.open(inbox.secrets_encrypted)
    )
    if ctx.payload.get("action") == "unregister":
        implementation.unprovision(config)
        return {"unregistered": inbox.id}
    url = webhook_url(ctx.rt.settings.resolved_public_url, inbox.channel, inbox.identifier)
    implementation.provision(config, url)
    return {"registered": url}
