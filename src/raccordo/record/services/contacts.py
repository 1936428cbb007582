"""Contacts: create, update, search by name or any identity, timeline, merge suggestions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session, selectinload

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.platform.errors import InvalidInput
from raccordo.platform.i18n import LANGUAGES
from raccordo.record.domain.identities import IdentityKind, fold_name, normalize_identity
from raccordo.record.domain.messages import TimelineKind
from raccordo.record.models import Contact, ContactIdentity, Conversation, MergeSuggestion, TimelineEvent
from raccordo.record.services.identity import IdentityInput, live_contact, refresh_suggestions, resolve_contact
from raccordo.record.services.records import add_timeline, audit

CONSENT_PURPOSES = (
    "marketing_email",
    "marketing_sms",
    "marketing_whatsapp",
    "marketing_phone",
    "profiling",
    "call_recording",
)


def _check_language(language: str | None) -> None:
    if language is not None and language not in LANGUAGES:
        raise InvalidInput("contact.language_unknown", field="language", value=language)


def create_contact(
    session: Session,
    actor: Actor,
    *,
    name: str | None,
    language: str | None,
    identities: list[IdentityInput],
    custom_attributes: dict[str, Any],
    region: str,
) -> Contact:
    """Create a contact; if an identity already belongs to someone, that contact is updated instead."""
    actor.require(Permission.WORK)
    _check_language(language)
    if identities:
        resolution = resolve_contact(
            session,
            actor.tenant_id,
            identities,
            region=region,
            name=name,
            language=language,
            actor_type=actor.actor_type,
            actor_id=actor.user_id,
        )
        contact = resolution.contact
    else:
        contact = Contact(tenant_id=actor.tenant_id, name=name, name_key=fold_name(name), language=language)
        session.add(contact)
        session.flush()
        add_timeline(
            session,
            actor.tenant_id,
            contact.id,
            TimelineKind.CONTACT_CREATED,
            actor_type=actor.actor_type,
            actor_id=actor.user_id,
        )
        refresh_suggestions(session, actor.tenant_id, contact)
    if custom_attributes:
        contact.custom_attributes = {**contact.custom_attributes, **custom_attributes}
    audit(session, actor, "contact.create", "contact", contact.id, {"name": name})
    session.flush()
    return contact


def update_contact(
    session: Session,
    actor: Actor,
    contact_id: int,
    *,
    name: str | None = None,
    language: str | None = None,
    custom_attributes: dict[str, Any] | None = None,
    consent: dict[str, bool] | None = None,
) -> Contact:
    actor.require(Permission.WORK)
    contact = live_contact(session, actor.tenant_id, contact_id)
    _check_language(language)
    changes: dict[str, Any] = {}
    if name is not None and name != contact.name:
        changes["name"] = {"from": contact.name, "to": name}
        contact.name, contact.name_key = name, fold_name(name)
    if language is not None and language != contact.language:
        changes["language"] = {"from": contact.language, "to": language}
        contact.language = language
    if custom_attributes is not None:
        # A null value removes the attribute.
        updated = {**contact.custom_attributes}
        for key, value in custom_attributes.items():
            if value is None:
                updated.pop(key, None)
            else:
                updated[key] = value
        if updated != contact.custom_attributes:
            changes["custom_attributes"] = {"from": contact.custom_attributes, "to": updated}
            contact.custom_attributes = updated
    if consent is not None:
        unknown = set(consent) - set(CONSENT_PURPOSES)
        if unknown:
            raise InvalidInput(
                "contact.consent_unknown",
                field="consent",
                names=", ".join(sorted(unknown)),
                known=", ".join(CONSENT_PURPOSES),
            )
        now = datetime.now(UTC).isoformat()
        updated_consent = dict(contact.consent)
        for purpose, granted in consent.items():
            updated_consent[purpose] = {"granted": bool(granted), "at": now, "by": actor.user_id}
        changes["consent"] = {k: bool(v) for k, v in consent.items()}
        contact.consent = updated_consent
    if changes:
        add_timeline(
            session,
            actor.tenant_id,
            contact.id,
            TimelineKind.ATTRIBUTE_CHANGED,
            actor_type=actor.actor_type,
            actor_id=actor.user_id,
            data=changes,
        )
        audit(session, actor, "contact.update", "contact", contact.id, changes)
        if "name" in changes:
            session.flush()
            refresh_suggestions(session, actor.tenant_id, contact)
    session.flush()
    return contact


def search_contacts(
    session: Session, actor: Actor, q: str | None, limit: int = 25, after_id: int | None = None
) -> list[Contact]:
    """By name (case- and accent-insensitive, any word order) or by any identity in any written form."""
    actor.require(Permission.READ)
    query = select(Contact).where(Contact.tenant_id == actor.tenant_id, Contact.merged_into_id.is_(None))
    if q and q.strip():
        q = q.strip()
        identity_values = {q, q.lower()}
        for kind in IdentityKind:
            try:
                identity_values.add(normalize_identity(kind, q)[1])
            except InvalidInput:
                continue
        folded = fold_name(q)
        conditions: list[ColumnElement[bool]] = [
            Contact.id.in_(
                select(ContactIdentity.contact_id).where(
                    ContactIdentity.tenant_id == actor.tenant_id, ContactIdentity.value.in_(identity_values)
                )
            )
        ]
        if folded:
            conditions.append(Contact.name_key == folded)
            for word in folded.split():
                conditions.append(Contact.name_key.like(f"%{word.replace('%', '').replace('_', '')}%"))
        query = query.where(or_(*conditions))
    if after_id is not None:
        query = query.where(Contact.id > after_id)
    return list(session.scalars(query.options(selectinload(Contact.identities)).order_by(Contact.id).limit(limit)))


def contact_timeline(
    session: Session, actor: Actor, contact_id: int, limit: int = 200, before_id: int | None = None
) -> list[TimelineEvent]:
    """Newest first: every event of the contact and of its conversations, across merges."""
    actor.require(Permission.READ)
    contact = live_contact(session, actor.tenant_id, contact_id)
    query = select(TimelineEvent).where(
        TimelineEvent.tenant_id == actor.tenant_id, TimelineEvent.contact_id == contact.id
    )
    if before_id is not None:
        query = query.where(TimelineEvent.id < before_id)
    return list(session.scalars(query.order_by(TimelineEvent.id.desc()).limit(limit)))


def contact_conversations(session: Session, actor: Actor, contact_id: int) -> list[Conversation]:
    actor.require(Permission.READ)
    contact = live_contact(session, actor.tenant_id, contact_id)
    return list(
        session.scalars(
            select(Conversation)
            .where(Conversation.tenant_id == actor.tenant_id, Conversation.contact_id == contact.id)
            .order_by(Conversation.last_activity_at.desc())
        )
    )


def list_suggestions(
    session: Session, actor: Actor, contact_id: int | None = None, limit: int = 50
) -> list[MergeSuggestion]:
    actor.require(Permission.READ)
    query = select(MergeSuggestion).where(
        MergeSuggestion.tenant_id == actor.tenant_id, MergeSuggestion.status == "open"
    )
    if contact_id is not None:
        live = live_contact(session, actor.tenant_id, contact_id)
        query = query.where(or_(MergeSuggestion.contact_a_id == live.id, MergeSuggestion.contact_b_id == live.id))
    return list(session.scalars(query.order_by(MergeSuggestion.score.desc(), MergeSuggestion.id).limit(limit)))
