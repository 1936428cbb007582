"""What the composer and the customer panel templates need beyond the conversation itself: each
reply inbox's rules (as data attributes for ``composer.js``), files posted with a reply, consent
and merge suggestions. No routes here (they are in ``composer_pages.py``), so ``pages.py`` can
import it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from starlette.datastructures import UploadFile

from raccordo.accounts.domain.roles import Permission, can
from raccordo.desk.services import composer, customer_panel
from raccordo.record.services.contacts import CONSENT_PURPOSES
from raccordo.record.services.reply import UploadedFile


def composer_context(session: Any, me: Any, context: dict[str, Any], max_attachment_bytes: int) -> dict[str, Any]:
    """``inbox_rules``: {inbox id: JSON of its rules and message window} for the composer's inbox select."""
    rows = composer.inbox_rules(session, me.actor, context["conversation"], context["reply_inboxes"], max_attachment_bytes)
    return {"inbox_rules": {row.inbox.id: json.dumps(row.as_data(), separators=(",", ":")) for row in rows}}


def form_uploads(form: dict[str, Any], name: str = "attachments") -> list[UploadedFile]:
    """The files posted under ``name`` (one or several); empty file inputs are ignored."""
    value = form.get(name)
    items = value if isinstance(value, list) else [value] if value is not None else []
    uploads = []
    for item in items:
        if isinstance(item, UploadFile) and item.filename:
            item.file.seek(0)
            uploads.append(UploadedFile(item.filename, (item.content_type or "application/octet-stream").split(";", 1)[0].strip().lower(), item.file.read()))
    return uploads


def panel_context(session: Any, me: Any, contact_id: int) -> dict[str, Any]:
    """Consent by purpose and the open merge suggestions of the contact, for ``_customer.html``."""
    from raccordo.platform.store.models import Contact

    contact = session.get(Contact, contact_id)
    consent = contact.consent if contact is not None else {}
    return {
        "consent_rows": [_consent_row(purpose, consent.get(purpose)) for purpose in CONSENT_PURPOSES],
        "consent_sources": customer_panel.CONSENT_SOURCES,
        "merge_candidates": customer_panel.merge_candidates(session, me.actor, contact_id),
        "can_merge": can(me.actor.role, Permission.MERGE_CONTACTS),
    }


def _consent_row(purpose: str, decision: Any) -> dict[str, Any]:
    """One purpose as the panel shows it; ``granted`` is None when nothing was recorded."""
    if not isinstance(decision, dict):
        return {"purpose": purpose, "granted": None, "at": None, "source": None, "by": None, "note": None}
    try:
        at = datetime.fromisoformat(str(decision.get("at")))
    except ValueError:
        at = None
    return {"purpose": purpose, "granted": bool(decision.get("granted")), "at": at, "source": decision.get("source"), "by": decision.get("by"), "note": decision.get("note")}
