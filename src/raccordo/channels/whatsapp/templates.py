"""Message templates synced from the WhatsApp Business Account: name, language, status, category, body.

``GET /{waba-id}/message_templates`` (https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates)
lists every template with its review status (APPROVED, PENDING, REJECTED, PAUSED, DISABLED) and
category (MARKETING, UTILITY, AUTHENTICATION). The list is kept on the inbox (``settings.templates``,
with ``templates_synced_at``): it belongs to the inbox's account, changes only when Meta reviews a
template, and is small. The channel's background service syncs each inbox every ``EVERY``; an
approved template is what may be sent outside the 24-hour window.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import inbox_config
from raccordo.channels.whatsapp.config import graph_for
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work

EVERY = timedelta(hours=1)
SETTINGS_KEYS = ("templates", "templates_synced_at")
_VARIABLE = re.compile(r"\{\{(\d+)\}\}")


def normalized(template: dict[str, Any]) -> dict[str, Any]:
    """One template as the product keeps it: lower-case status and category, the body and its variable
    count, the body's examples (the picker's hints), header, footer and buttons."""
    components = [c for c in template.get("components") or [] if isinstance(c, dict)]

    def part(kind: str) -> dict[str, Any]:
        return next((c for c in components if str(c.get("type")).upper() == kind), {})

    body = str(part("BODY").get("text") or "")
    examples = ((part("BODY").get("example") or {}).get("body_text") or [[]])[0]
    buttons = [
        {"type": str(b.get("type") or "").lower(), "text": str(b.get("text") or "")}
        for b in part("BUTTONS").get("buttons") or []
        if isinstance(b, dict)
    ]
    return {
        "name": str(template.get("name") or ""),
        "language": str(template.get("language") or ""),
        "status": str(template.get("status") or "").lower(),
        "category": str(template.get("category") or "").lower(),
        "body": body,
        "variables": len(set(_VARIABLE.findall(body))),
        "examples": [str(e) for e in examples] if isinstance(examples, list) else [],
        "header": str(part("HEADER").get("text") or ""),
        "footer": str(part("FOOTER").get("text") or ""),
        "buttons": buttons,
        "rejected_reason": str(template.get("rejected_reason") or ""),
    }


def approved(settings: dict[str, Any], name: str, language: str) -> dict[str, Any] | None:
    """The synced template of that name and language, if Meta approved it."""
    return next(
        (
            t
            for t in settings.get("templates") or []
            if t.get("name") == name and t.get("language") == language and t.get("status") == "approved"
        ),
        None,
    )


def sync_templates(rt: Runtime, inbox_id: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """Read the account's templates and keep them on the inbox; raises ``GraphFailure`` when Meta refuses."""
    with unit_of_work(rt.sessions) as session:
        config = inbox_config(rt, session.get_one(Inbox, inbox_id))
    found = [normalized(t) for t in graph_for(config).templates(str(config.settings.get("waba_id", "")))]
    found.sort(key=lambda t: (t["name"], t["language"]))
    with unit_of_work(rt.sessions) as session:
        inbox = session.get_one(Inbox, inbox_id)
        stamp = (now or datetime.now(UTC)).isoformat()
        inbox.settings = {**inbox.settings, "templates": found, "templates_synced_at": stamp}
    return found


def due_inboxes(rt: Runtime, now: datetime) -> list[int]:
    """Active, configured WhatsApp inboxes whose templates were never synced, or not for ``EVERY``."""
    with unit_of_work(rt.sessions) as session:
        rows = session.execute(
            select(Inbox.id, Inbox.settings).where(Inbox.channel == "whatsapp", Inbox.active.is_(True))
        )
        due = []
        for inbox_id, settings in rows:
            if not (settings or {}).get("waba_id"):  # not configured (e.g. a demo's history-only inbox)
                continue
            synced = (settings or {}).get("templates_synced_at")
            if not synced or datetime.fromisoformat(synced) <= now - EVERY:
                due.append(inbox_id)
        return due
