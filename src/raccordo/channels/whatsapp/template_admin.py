"""The template admin's use cases (``template_pages.py``): list an inbox's templates, submit a new one, sync.

Each opens its own unit of work and checks the acting user may manage inboxes; an inbox of another
tenant, or of another channel, is not found. Meta's refusal of a submission or a sync is an
``InvalidInput`` carrying Meta's explanation in the admin's language (``language``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import inbox_config
from raccordo.channels.whatsapp import authoring, templates
from raccordo.channels.whatsapp.config import graph_for
from raccordo.channels.whatsapp.graph import GraphFailure
from raccordo.platform.errors import InvalidInput, NotFound
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.services.records import get_owned

KIND = "whatsapp"


@dataclass(frozen=True)
class TemplatesView:
    inbox_id: int
    inbox_name: str
    templates: list[dict[str, Any]]
    synced_at: str | None


def _owned(rt: Runtime, actor: Actor, inbox_id: int) -> tuple[Any, Any]:
    actor.require(Permission.MANAGE_INBOXES)
    with unit_of_work(rt.sessions) as session:
        inbox = get_owned(session, Inbox, actor.tenant_id, inbox_id)
        if inbox.channel != KIND:
            raise NotFound("error.not_found_id", kind="inbox", id=inbox_id)
        return inbox_config(rt, inbox), inbox.name


def templates_view(rt: Runtime, actor: Actor, inbox_id: int) -> TemplatesView:
    config, name = _owned(rt, actor, inbox_id)
    rows = sorted(config.settings.get("templates") or [], key=lambda t: (t.get("name", ""), t.get("language", "")))
    return TemplatesView(inbox_id, name, rows, config.settings.get("templates_synced_at"))


def sync_now(rt: Runtime, actor: Actor, inbox_id: int, language: str) -> list[dict[str, Any]]:
    _owned(rt, actor, inbox_id)
    try:
        return templates.sync_templates(rt, inbox_id)
    except GraphFailure as exc:
        raise InvalidInput("whatsapp.authoring.sync_failed", reason=exc.error.explain(language)) from None


def submit(rt: Runtime, actor: Actor, inbox_id: int, draft: authoring.TemplateDraft, language: str) -> None:
    """Check the draft, submit it to Meta (it starts PENDING) and sync the inbox's list to show it."""
    config, _name = _owned(rt, actor, inbox_id)
    payload = authoring.build(draft)
    try:
        graph_for(config).create_template(str(config.settings.get("waba_id", "")), payload)
    except GraphFailure as exc:
        raise InvalidInput("whatsapp.authoring.refused", reason=exc.error.explain(language)) from None
    with contextlib.suppress(GraphFailure):  # submitted: if this read fails, the background sync shows it later
        templates.sync_templates(rt, inbox_id)
