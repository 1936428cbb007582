"""Consent decisions the customer makes on a channel itself (an SMS "STOP"), recorded on the contact.

The desk's customer panel records what an agent heard (``desk.services.customer_panel``); this is
the customer's own decision, sent as a keyword: no agent is involved, the source says which
channel and word, and the same timeline row, audit row and ``contact.updated`` event follow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import system_actor
from raccordo.platform.errors import InvalidInput
from raccordo.platform.events import emit
from raccordo.record.domain.messages import TimelineKind
from raccordo.record.models import Contact
from raccordo.record.services.contacts import CONSENT_PURPOSES
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import add_timeline, audit


def consent_by_customer(
    session: Session,
    tenant_id: int,
    contact_id: int,
    *,
    purpose: str,
    granted: bool,
    source: str,
    note: str,
    message_id: int | None = None,
) -> Contact | None:
    """Grant or withdraw ``purpose`` as the customer asked (``source``: e.g. ``sms_keyword``); the
    contact unchanged (``None`` returned) when the purpose already has that value."""
    if purpose not in CONSENT_PURPOSES:
        raise InvalidInput("contact.consent_unknown", field="consent", names=purpose, known=", ".join(CONSENT_PURPOSES))
    contact = live_contact(session, tenant_id, contact_id)
    previous = contact.consent.get(purpose) if isinstance(contact.consent.get(purpose), dict) else None
    if previous is not None and bool(previous.get("granted")) == granted:
        return None
    decision: dict[str, Any] = {
        "granted": granted,
        "at": datetime.now(UTC).isoformat(),
        "by": None,
        "source": source,
        "note": note,
    }
    if message_id is not None:
        decision["message_id"] = message_id
    contact.consent = {**contact.consent, purpose: decision}
    change = {
        "purpose": purpose,
        "granted": granted,
        "source": source,
        "previous": previous.get("granted") if previous else None,
    }
    add_timeline(
        session, tenant_id, contact.id, TimelineKind.CONSENT_CHANGED, actor_type="contact", data=change | {"note": note}
    )
    audit(session, system_actor(tenant_id), "contact.consent", "contact", contact.id, change)
    emit(
        session,
        tenant_id,
        "contact.updated",
        {"contact_id": contact.id, "consent": {purpose: granted}},
        contact_id=contact.id,
    )
    session.flush()
    return contact
