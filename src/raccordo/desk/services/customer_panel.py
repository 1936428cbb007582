"""The customer panel's own use cases: recording a consent decision, and the merge suggestions
that involve a contact together with the other contact of each pair."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.platform.errors import InvalidInput
from raccordo.platform.events import emit
from raccordo.record.domain.messages import TimelineKind
from raccordo.record.models import Contact, MergeSuggestion
from raccordo.record.services.contacts import CONSENT_PURPOSES, list_suggestions
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import add_timeline, audit

# How the customer expressed the decision.
ConsentSource = Literal["phone", "email", "chat", "web_form", "in_person", "written", "other"]
CONSENT_SOURCES: tuple[str, ...] = get_args(ConsentSource)
MAX_NOTE = 500


def record_consent(
    session: Session,
    actor: Actor,
    contact_id: int,
    *,
    purpose: str,
    granted: bool,
    source: str,
    note: str | None = None,
) -> Contact:
    """Grant or withdraw one purpose, with when, by whom and how; audited and on the contact's timeline."""
    actor.require(Permission.WORK)
    contact = live_contact(session, actor.tenant_id, contact_id)
    if purpose not in CONSENT_PURPOSES:
        raise InvalidInput(
            "composer.consent_purpose_unknown", field="purpose", value=purpose, known=", ".join(CONSENT_PURPOSES)
        )
    if source not in CONSENT_SOURCES:
        raise InvalidInput(
            "composer.consent_source_unknown", field="source", value=source, known=", ".join(CONSENT_SOURCES)
        )
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidInput("composer.consent_note_too_long", field="note", limit=MAX_NOTE)
    previous = contact.consent.get(purpose) if isinstance(contact.consent.get(purpose), dict) else None
    decision: dict[str, Any] = {
        "granted": bool(granted),
        "at": datetime.now(UTC).isoformat(),
        "by": actor.user_id,
        "source": source,
    }
    if note:
        decision["note"] = note
    contact.consent = {**contact.consent, purpose: decision}
    change = {
        "purpose": purpose,
        "granted": bool(granted),
        "source": source,
        "previous": previous.get("granted") if previous else None,
    }
    add_timeline(
        session,
        actor.tenant_id,
        contact.id,
        TimelineKind.CONSENT_CHANGED,
        actor_type=actor.actor_type,
        actor_id=actor.user_id,
        data=change | ({"note": note} if note else {}),
    )
    audit(session, actor, "contact.consent", "contact", contact.id, change)
    emit(
        session,
        actor.tenant_id,
        "contact.updated",
        {"contact_id": contact.id, "consent": {purpose: bool(granted)}},
        contact_id=contact.id,
    )
    session.flush()
    return contact


@dataclass(frozen=True)
class Candidate:
    """An open merge suggestion seen from one contact: the other contact, why, and how sure."""

    suggestion: MergeSuggestion
    other: Contact


def merge_candidates(session: Session, actor: Actor, contact_id: int) -> list[Candidate]:
    actor.require(Permission.READ)
    contact = live_contact(session, actor.tenant_id, contact_id)
    suggestions = list_suggestions(session, actor, contact.id, 20)
    other_ids = {s.contact_b_id if s.contact_a_id == contact.id else s.contact_a_id for s in suggestions}
    # The other contacts in one query, not one per suggestion.
    others = {}
    if other_ids:
        query = (
            select(Contact)
            .where(Contact.tenant_id == actor.tenant_id, Contact.id.in_(other_ids))
            .options(selectinload(Contact.identities))
        )
        others = {c.id: c for c in session.scalars(query)}
    rows = []
    for suggestion in suggestions:
        other = others.get(
            suggestion.contact_b_id if suggestion.contact_a_id == contact.id else suggestion.contact_a_id
        )
        if other is not None and other.merged_into_id is None:
            rows.append(Candidate(suggestion, other))
    return rows


def consent_row(purpose: str, decision: Any) -> dict[str, Any]:
    """One purpose as the panel shows it; ``granted`` is None when nothing was recorded."""
    if not isinstance(decision, dict):
        return {"purpose": purpose, "granted": None, "at": None, "source": None, "by": None, "note": None}
    try:
        at = datetime.fromisoformat(str(decision.get("at")))
    except ValueError:
        at = None
    return {
        "purpose": purpose,
        "granted": bool(decision.get("granted")),
        "at": at,
        "source": decision.get("source"),
        "by": decision.get("by"),
        "note": decision.get("note"),
    }
