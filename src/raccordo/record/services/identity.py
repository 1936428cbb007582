"""Identity resolution, automatic linking, merge suggestions and merges.

- An inbound identity finds its contact or creates one.
- Identities that are provably the same person link automatically: an email is one
  identity; the same E.164 number on SMS/voice and WhatsApp links to the same contact.
- What is only likely the same (same name, same email user, two contacts claiming the
  same number) becomes a merge suggestion.
- A merge moves identities, conversations and timeline to the survivor, records the
  merge in both timelines and the audit log, and deletes nothing.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, bindparam, or_, select, tuple_, union, update
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.platform.errors import Conflict, InvalidInput, NotFound
from raccordo.platform.events import emit
from raccordo.record.domain.duplicates import (
    SUGGESTION_THRESHOLD,
    ContactProfile,
    DuplicateReason,
    duplicate_reasons,
    duplicate_score,
)
from raccordo.record.domain.identities import (
    PHONE_NUMBER_KINDS,
    IdentityKind,
    equivalent_identities,
    fold_name,
    normalize_identity,
)
from raccordo.record.domain.messages import TimelineKind
from raccordo.record.models import Contact, ContactIdentity, Conversation, MergeSuggestion, TimelineEvent
from raccordo.record.services.records import TimelineRows, add_timeline, audit, get_owned


@dataclass(frozen=True)
class IdentityInput:
    kind: str
    value: str
    verified: bool = False


@dataclass
class Resolution:
    contact: Contact
    created: bool
    linked: list[tuple[str, str]]
    # The contact's row was locked by the look-up (``resolve_contact(lock=True)``).
    locked: bool = False


def normalized(identities: list[IdentityInput], region: str) -> list[tuple[str, str, bool]]:
    seen: dict[tuple[str, str], bool] = {}
    for index, item in enumerate(identities):
        try:
            kind, value = normalize_identity(item.kind, item.value, region)
        except InvalidInput as exc:
            exc.field = exc.field or f"identities.{index}"
            raise
        seen[(kind.value, value)] = seen.get((kind.value, value), False) or item.verified
    return [(k, v, verified) for (k, v), verified in seen.items()]


def live_contact(session: Session, tenant_id: int, contact_id: int) -> Contact:
    """The contact, following merges to the surviving one; 404 for another tenant's id."""
    contact = session.get(Contact, contact_id)
    while contact is not None and contact.tenant_id == tenant_id and contact.merged_into_id is not None:
        contact = session.get(Contact, contact.merged_into_id)
    if contact is None or contact.tenant_id != tenant_id:
        raise NotFound("error.not_found_id", kind="contacts", id=contact_id)
    return contact


def _find(session: Session, tenant_id: int, kind: str, value: str) -> ContactIdentity | None:
    return session.scalars(
        select(ContactIdentity).where(
            ContactIdentity.tenant_id == tenant_id, ContactIdentity.kind == kind, ContactIdentity.value == value
        )
    ).one_or_none()


# The identities' look-up, built once (every message runs it): the pairs are one expanding parameter.
_LOOKUP = (
    select(ContactIdentity.kind, ContactIdentity.value, Contact)
    .join(Contact, Contact.id == ContactIdentity.contact_id)
    .where(
        ContactIdentity.tenant_id == bindparam("tenant_id"),
        tuple_(ContactIdentity.kind, ContactIdentity.value).in_(bindparam("wanted", expanding=True)),
    )
)
# In id order, so two messages claiming the same contacts wait for each other instead of deadlocking.
_LOOKUP_LOCKED = _LOOKUP.order_by(Contact.id).with_for_update(key_share=True, of=Contact)


def resolve_contact(
    session: Session,
    tenant_id: int,
    identities: list[IdentityInput],
    *,
    region: str = "IT",
    name: str | None = None,
    language: str | None = None,
    actor_type: str = "contact",
    actor_id: int | None = None,
    timeline: TimelineRows | None = None,
    lock: bool = False,
) -> Resolution:
    """Find or create the contact these identities belong to and attach the new ones.

    ``timeline``: a caller that writes timeline rows of its own (ingest) collects these with them
    and writes them all in one statement; without it they are added to the session as ORM objects.
    ``lock``: the look-up itself locks the contacts it finds (PostgreSQL ``FOR NO KEY UPDATE``, in
    id order; SQLite serializes writers already), saving the caller a statement of its own;
    ``Resolution.locked`` says whether the contact returned is one of them (not, when it was
    created, or reached by following a merge)."""
    own_timeline = timeline is None
    timeline = TimelineRows() if timeline is None else timeline
    items = normalized(identities, region)
    if not items:
        raise InvalidInput("identity.none_given", field="identities")
    # One query for the identities given and their provable equivalents (the same number on
    # another phone channel); their contacts come with it, so following merges reads no more.
    equivalents = {
        (kind, value): [(k.value, v) for k, v in equivalent_identities(IdentityKind(kind), value)]
        for kind, value, _ in items
    }
    wanted = set(equivalents) | {pair for pairs in equivalents.values() for pair in pairs}
    # (The rows are kept: the session's identity map holds objects weakly, and ``live_contact`` below reads them.)
    rows = session.execute(
        _LOOKUP_LOCKED if lock else _LOOKUP, {"tenant_id": tenant_id, "wanted": sorted(wanted)}
    ).all()
    known: dict[tuple[str, str], int] = {(kind, value): contact.id for kind, value, contact in rows}
    owners = {(kind, value): known[(kind, value)] for kind, value, _ in items if (kind, value) in known}
    via_equivalence: dict[tuple[str, str], int] = {}
    for kind, value, _ in items:
        if (kind, value) in owners:
            continue
        found = next((known[pair] for pair in equivalents[(kind, value)] if pair in known), None)
        if found is not None:
            via_equivalence[(kind, value)] = found
    chosen_id = next((owners[(k, v)] for k, v, _ in items if (k, v) in owners), None)
    if chosen_id is None:
        chosen_id = next((via_equivalence[(k, v)] for k, v, _ in items if (k, v) in via_equivalence), None)
    created = chosen_id is None
    if chosen_id is None:
        contact = Contact(tenant_id=tenant_id, name=name, name_key=fold_name(name), language=language)
        session.add(contact)
        session.flush()
        timeline.add(tenant_id, contact.id, TimelineKind.CONTACT_CREATED, actor_type=actor_type, actor_id=actor_id)
    else:
        contact = live_contact(session, tenant_id, chosen_id)
        if name and not contact.name:
            contact.name, contact.name_key = name, fold_name(name)
        if language and not contact.language:
            contact.language = language
    linked: list[tuple[str, str]] = []
    attached: list[tuple[str, str]] = []  # identities this call gave to ``contact``
    conflicting: set[int] = set()
    for kind, value, verified in items:
        owner = owners.get((kind, value))
        if owner is not None:
            if live_contact(session, tenant_id, owner).id != contact.id:
                conflicting.add(owner)
            continue
        # A provable link wins over the message's claim: the same number stays with the contact
        # that already has it, and the claim that it is also this contact's becomes a suggestion.
        target = contact.id
        equivalent_owner = via_equivalence.get((kind, value))
        if equivalent_owner is not None:
            target = live_contact(session, tenant_id, equivalent_owner).id
            if target != contact.id:
                conflicting.add(target)
        session.add(ContactIdentity(tenant_id=tenant_id, contact_id=target, kind=kind, value=value, verified=verified))
        if target == contact.id:
            attached.append((kind, value))
        kind_of_event = TimelineKind.IDENTITY_LINKED if equivalent_owner is not None else TimelineKind.IDENTITY_ADDED
        timeline.add(
            tenant_id,
            target,
            kind_of_event,
            actor_type=actor_type,
            actor_id=actor_id,
            data={"kind": kind, "value": value},
        )
        if equivalent_owner is not None or not created:
            linked.append((kind, value))
    if own_timeline:
        # Other callers (contact forms, imports, the widget, the demo's history clock) get ORM rows,
        # flushed with the identities, as before; ingest writes its batch itself.
        timeline.add_objects(session)
    # (No flush of the new identities here: the look-ups below, or the caller's next flush, send
    # them; a concurrent claim of the same identity fails there on the unique index just the same.)
    for other in conflicting:
        # One message claims identities of two contacts: strong evidence, but a person decides.
        suggest_merge(
            session,
            tenant_id,
            contact.id,
            live_contact(session, tenant_id, other).id,
            [DuplicateReason("identities_claimed_together", 0.9)],
        )
    if created or linked:
        # A contact created just now has exactly the identities attached here: no need to read them back.
        refresh_suggestions(session, tenant_id, contact, identities=attached if created else None)
    return Resolution(contact, created, linked, locked=lock and any(c.id == contact.id for _, _, c in rows))


def _profile(session: Session, contact: Contact) -> ContactProfile:
    rows = session.execute(
        select(ContactIdentity.kind, ContactIdentity.value).where(ContactIdentity.contact_id == contact.id)
    ).all()
    return ContactProfile(contact.id, contact.name, frozenset((k, v) for k, v in rows))


def refresh_suggestions(
    session: Session, tenant_id: int, contact: Contact, *, identities: list[tuple[str, str]] | None = None
) -> list[MergeSuggestion]:
    """Compare a contact with the likely duplicates the indexes can find and record suggestions
    (``identities``: the contact's identities, when the caller knows them all).

    One index lookup per reason (same folded name, same number, same email user), so the
    cost does not grow with the size of the tenant.
    """
    me = (
        _profile(session, contact)
        if identities is None
        else ContactProfile(contact.id, contact.name, frozenset(identities))
    )
    lookups = []
    if contact.name_key:
        lookups.append(
            select(Contact.id).where(Contact.tenant_id == tenant_id, Contact.name_key == contact.name_key).limit(50)
        )
    numbers = {v for k, v in me.identities if IdentityKind(k) in PHONE_NUMBER_KINDS}
    if numbers:
        kinds = [k.value for k in PHONE_NUMBER_KINDS]
        lookups.append(
            select(ContactIdentity.contact_id)
            .where(
                ContactIdentity.tenant_id == tenant_id,
                ContactIdentity.kind.in_(kinds),
                ContactIdentity.value.in_(numbers),
            )
            .limit(50)
        )
    locals_ = {v.split("@", 1)[0] for k, v in me.identities if k == IdentityKind.EMAIL.value}
    locals_ = {local for local in locals_ if len(local) >= 4}
    if locals_:
        lookups.append(
            select(ContactIdentity.contact_id)
            .where(ContactIdentity.tenant_id == tenant_id, ContactIdentity.match_key.in_(locals_))
            .limit(50)
        )
    candidate_ids: set[int] = set()
    if lookups:  # one round trip for all of them
        # Given ``identities`` (a contact created just now), every pending identity row is this
        # contact's: flushed, it would only find the contact itself, which is left out below. So the
        # look-up need not flush them; they go with the caller's next flush (ingest: the conversation's).
        with session.no_autoflush if identities is not None else nullcontext():
            candidate_ids.update(session.scalars(union(*(lookup.subquery().select() for lookup in lookups))))
    candidate_ids.discard(contact.id)
    if not candidate_ids:
        return []
    candidates = list(
        session.scalars(
            select(Contact).where(Contact.id.in_(sorted(candidate_ids)[:100]), Contact.merged_into_id.is_(None))
        )
    )
    # The candidates' identities in one query, not one per candidate.
    their_identities: dict[int, set[tuple[str, str]]] = {candidate.id: set() for candidate in candidates}
    if candidates:
        for contact_id, kind, value in session.execute(
            select(ContactIdentity.contact_id, ContactIdentity.kind, ContactIdentity.value).where(
                ContactIdentity.tenant_id == tenant_id, ContactIdentity.contact_id.in_(list(their_identities))
            )
        ):
            their_identities[contact_id].add((kind, value))
    # A contact created just now (``identities`` given) has no stored suggestion yet: only those
    # this transaction added (a claim of two contacts' identities) can exist, and they are in the session.
    pending = (
        {
            (s.contact_a_id, s.contact_b_id)
            for s in (*session.new, *session.identity_map.values())
            if isinstance(s, MergeSuggestion)
        }
        if identities is not None
        else None
    )
    made = []
    for candidate in candidates:
        profile = ContactProfile(candidate.id, candidate.name, frozenset(their_identities[candidate.id]))
        reasons = duplicate_reasons(me, profile)
        if duplicate_score(reasons) >= SUGGESTION_THRESHOLD:
            pair = (min(contact.id, candidate.id), max(contact.id, candidate.id))
            absent = pending is not None and pair not in pending
            made.append(suggest_merge(session, tenant_id, contact.id, candidate.id, reasons, known_absent=absent))
    return made


def suggest_merge(
    session: Session,
    tenant_id: int,
    a: int,
    b: int,
    reasons: list[DuplicateReason],
    *,
    known_absent: bool = False,
) -> MergeSuggestion:
    """Record (or strengthen) the suggestion that ``a`` and ``b`` are one person. ``known_absent``:
    the caller knows no suggestion of the pair exists (a contact created in this transaction), so
    it is neither looked up nor flushed at once (it goes with the caller's next flush)."""
    low, high = min(a, b), max(a, b)
    codes = sorted({r.code for r in reasons})
    score = duplicate_score(reasons)
    if known_absent:
        suggestion = MergeSuggestion(
            tenant_id=tenant_id, contact_a_id=low, contact_b_id=high, reasons=codes, score=score, status="open"
        )
        session.add(suggestion)
        return suggestion
    existing = session.scalars(
        select(MergeSuggestion).where(
            MergeSuggestion.tenant_id == tenant_id,
            MergeSuggestion.contact_a_id == low,
            MergeSuggestion.contact_b_id == high,
        )
    ).one_or_none()
    if existing is None:
        existing = MergeSuggestion(
            tenant_id=tenant_id, contact_a_id=low, contact_b_id=high, reasons=codes, score=score, status="open"
        )
        session.add(existing)
    elif existing.status == "open":
        existing.reasons = sorted(set(existing.reasons) | set(codes))
        existing.score = max(existing.score, score)
    session.flush()
    return existing


def add_identity(session: Session, actor: Actor, contact_id: int, item: IdentityInput, region: str) -> ContactIdentity:
    actor.require(Permission.WORK)
    contact = live_contact(session, actor.tenant_id, contact_id)
    kind, value, verified = normalized([item], region)[0]
    existing = _find(session, actor.tenant_id, kind, value)
    if existing is not None:
        if live_contact(session, actor.tenant_id, existing.contact_id).id == contact.id:
            return existing
        raise Conflict("identity.taken", field="value", kind=kind, value=value, contact_id=existing.contact_id)
    identity = ContactIdentity(
        tenant_id=actor.tenant_id, contact_id=contact.id, kind=kind, value=value, verified=verified
    )
    session.add(identity)
    add_timeline(
        session,
        actor.tenant_id,
        contact.id,
        TimelineKind.IDENTITY_ADDED,
        actor_type=actor.actor_type,
        actor_id=actor.user_id,
        data={"kind": kind, "value": value},
    )
    audit(session, actor, "identity.add", "contact", contact.id, {"kind": kind, "value": value})
    session.flush()
    refresh_suggestions(session, actor.tenant_id, contact)
    return identity


def _merge_consent(survivor: dict[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    """Per purpose, the most recent decision wins; an opt-out is never lost to an older opt-in."""
    result = dict(merged)
    for key, decision in survivor.items():
        other = result.get(key)
        if (
            not isinstance(other, dict)
            or not isinstance(decision, dict)
            or str(decision.get("at", "")) >= str(other.get("at", ""))
        ):
            result[key] = decision
    return result


def _rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE matched (``Session.execute`` is typed as returning any result; an
    UPDATE's is a cursor result)."""
    return cast(CursorResult[Any], result).rowcount


def merge_contacts(session: Session, actor: Actor, survivor_id: int, merged_id: int) -> Contact:
    actor.require(Permission.MERGE_CONTACTS)
    survivor = get_owned(session, Contact, actor.tenant_id, survivor_id, lock=True)
    merged = get_owned(session, Contact, actor.tenant_id, merged_id, lock=True)
    if survivor.id == merged.id:
        raise InvalidInput("merge.same_contact", field="other_id")
    for contact in (survivor, merged):
        if contact.merged_into_id is not None:
            raise Conflict("merge.already_merged", id=contact.id, into=contact.merged_into_id)
    tenant = actor.tenant_id
    moved_identities = _rowcount(
        session.execute(
            update(ContactIdentity)
            .where(ContactIdentity.tenant_id == tenant, ContactIdentity.contact_id == merged.id)
            .values(contact_id=survivor.id)
        )
    )
    moved_conversations = _rowcount(
        session.execute(
            update(Conversation)
            .where(Conversation.tenant_id == tenant, Conversation.contact_id == merged.id)
            .values(contact_id=survivor.id)
        )
    )
    moved_events = _rowcount(
        session.execute(
            update(TimelineEvent)
            .where(TimelineEvent.tenant_id == tenant, TimelineEvent.contact_id == merged.id)
            .values(contact_id=survivor.id)
        )
    )
    # Earlier merges into the merged contact now resolve straight to the survivor.
    session.execute(
        update(Contact)
        .where(Contact.tenant_id == tenant, Contact.merged_into_id == merged.id)
        .values(merged_into_id=survivor.id)
    )
    if not survivor.name and merged.name:
        survivor.name, survivor.name_key = merged.name, merged.name_key
    survivor.language = survivor.language or merged.language
    survivor.custom_attributes = {**merged.custom_attributes, **survivor.custom_attributes}
    survivor.consent = _merge_consent(survivor.consent, merged.consent)
    merged.merged_into_id = survivor.id
    merged.updated_at = datetime.now(UTC)
    detail = {
        "survivor_id": survivor.id,
        "merged_id": merged.id,
        "merged_name": merged.name,
        "identities": moved_identities,
        "conversations": moved_conversations,
        "events": moved_events,
    }
    add_timeline(
        session,
        tenant,
        survivor.id,
        TimelineKind.MERGED,
        actor_type=actor.actor_type,
        actor_id=actor.user_id,
        data=detail,
    )
    add_timeline(
        session,
        tenant,
        merged.id,
        TimelineKind.MERGED_INTO,
        actor_type=actor.actor_type,
        actor_id=actor.user_id,
        data=detail,
    )
    audit(session, actor, "contact.merge", "contact", survivor.id, detail)
    emit(session, tenant, "contact.merged", detail, contact_id=survivor.id)
    for suggestion in session.scalars(
        select(MergeSuggestion).where(
            MergeSuggestion.tenant_id == tenant,
            MergeSuggestion.status == "open",
            or_(
                MergeSuggestion.contact_a_id.in_([survivor.id, merged.id]),
                MergeSuggestion.contact_b_id.in_([survivor.id, merged.id]),
            ),
        )
    ):
        pair = {suggestion.contact_a_id, suggestion.contact_b_id}
        suggestion.status = "merged" if pair == {survivor.id, merged.id} else "superseded"
    session.flush()
    refresh_suggestions(session, tenant, survivor)
    return survivor


def dismiss_suggestion(session: Session, actor: Actor, suggestion_id: int) -> MergeSuggestion:
    actor.require(Permission.MERGE_CONTACTS)
    suggestion = get_owned(session, MergeSuggestion, actor.tenant_id, suggestion_id)
    if suggestion.status != "open":
        raise Conflict("merge.suggestion_closed", status=suggestion.status)
    suggestion.status = "dismissed"
    audit(session, actor, "suggestion.dismiss", "merge_suggestion", suggestion.id)
    return suggestion
