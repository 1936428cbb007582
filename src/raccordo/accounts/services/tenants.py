"""Organizations (tenants): creating one, and its settings (name, region, language, the
conversation continuity rule, the time zone)."""

from __future__ import annotations

import re

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.models import Tenant
from raccordo.platform.errors import Conflict, InvalidInput
from raccordo.platform.hours import is_timezone
from raccordo.platform.i18n import LANGUAGES
from raccordo.record.services.records import audit

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def create_tenant(session: Session, slug: str, name: str, *, region: str = "IT", language: str = "it") -> Tenant:
    if not _SLUG.match(slug):
        raise InvalidInput("tenant.slug_invalid", field="slug", value=slug)
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict("tenant.slug_taken", field="slug", value=slug)
    tenant = Tenant(
        slug=slug,
        name=name,
        default_region=region,
        default_language=language,
        settings={"continuity": {"across_channels": True, "reopen_window_hours": 168}},
    )
    session.add(tenant)
    session.flush()
    return tenant


def update_tenant(
    session: Session,
    actor: Actor,
    *,
    name: str | None = None,
    default_region: str | None = None,
    default_language: str | None = None,
    continuity_across_channels: bool | None = None,
    reopen_window_hours: float | None = None,
    timezone: str | None = None,
) -> Tenant:
    """Organization settings, including the conversation continuity rule."""
    actor.require(Permission.MANAGE_INBOXES)
    tenant = session.get_one(Tenant, actor.tenant_id)
    changes: dict[str, object] = {}
    if name is not None:
        tenant.name = changes["name"] = name
    if default_region is not None:
        region = default_region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise InvalidInput("tenant.region_unknown", field="default_region", value=default_region)
        tenant.default_region = changes["default_region"] = region
    if default_language is not None:
        if default_language not in LANGUAGES:
            raise InvalidInput("user.language_unknown", field="default_language", value=default_language)
        tenant.default_language = changes["default_language"] = default_language
    continuity = dict((tenant.settings or {}).get("continuity", {}))
    if continuity_across_channels is not None:
        continuity["across_channels"] = changes["continuity_across_channels"] = continuity_across_channels
    if reopen_window_hours is not None:
        if reopen_window_hours < 0:
            raise InvalidInput("tenant.reopen_window_negative", field="reopen_window_hours")
        continuity["reopen_window_hours"] = changes["reopen_window_hours"] = reopen_window_hours
    settings = {**(tenant.settings or {}), "continuity": continuity}
    if timezone is not None:
        if not is_timezone(timezone):
            raise InvalidInput("tenant.timezone_unknown", field="timezone", value=timezone)
        settings["timezone"] = changes["timezone"] = timezone
    tenant.settings = settings
    audit(session, actor, "tenant.update", "tenant", tenant.id, changes)
    session.flush()
    return tenant
