"""The contact use cases as the REST API calls them: each opens, commits or rolls back its own
unit of work. ``shape`` turns a row into what the caller returns (the API's response model); it
runs inside the unit of work, so a row's identities load there and nothing loads after it closes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.models import Tenant
from raccordo.platform.store.db import unit_of_work
from raccordo.record.services import contacts, identity
from raccordo.record.services.identity import IdentityInput

Sessions = sessionmaker[Session]
T = TypeVar("T")
Shape = Callable[[Any], T]


def _region(session: Session, actor: Actor) -> str:
    return session.get_one(Tenant, actor.tenant_id).default_region


def _with_identities(session: Session, contact: Any, shape: Shape[T]) -> T:
    session.refresh(contact, ["identities"])
    return shape(contact)


def search(
    sessions: Sessions, actor: Actor, q: str | None, limit: int, after_id: int | None, shape: Shape[T]
) -> list[T]:
    with unit_of_work(sessions) as session:
        return [shape(c) for c in contacts.search_contacts(session, actor, q, limit, after_id)]


def create(
    sessions: Sessions,
    actor: Actor,
    *,
    name: str | None,
    language: str | None,
    identities: list[IdentityInput],
    custom_attributes: dict[str, Any],
    shape: Shape[T],
) -> T:
    """A new contact with its identities, normalized in the tenant's default region."""
    with unit_of_work(sessions) as session:
        contact = contacts.create_contact(
            session,
            actor,
            name=name,
            language=language,
            identities=identities,
            custom_attributes=custom_attributes,
            region=_region(session, actor),
        )
        return _with_identities(session, contact, shape)


def suggestions(sessions: Sessions, actor: Actor, contact_id: int | None, limit: int, shape: Shape[T]) -> list[T]:
    with unit_of_work(sessions) as session:
        return [shape(s) for s in contacts.list_suggestions(session, actor, contact_id, limit)]


def dismiss(sessions: Sessions, actor: Actor, suggestion_id: int, shape: Shape[T]) -> T:
    with unit_of_work(sessions) as session:
        return shape(identity.dismiss_suggestion(session, actor, suggestion_id))


def get(sessions: Sessions, actor: Actor, contact_id: int, shape: Shape[T]) -> T:
    """The contact, or the one it was merged into."""
    actor.require(Permission.READ)
    with unit_of_work(sessions) as session:
        return shape(identity.live_contact(session, actor.tenant_id, contact_id))


def update(sessions: Sessions, actor: Actor, contact_id: int, changes: dict[str, Any], shape: Shape[T]) -> T:
    with unit_of_work(sessions) as session:
        return _with_identities(session, contacts.update_contact(session, actor, contact_id, **changes), shape)


def add_identity(sessions: Sessions, actor: Actor, contact_id: int, item: IdentityInput, shape: Shape[T]) -> T:
    with unit_of_work(sessions) as session:
        return shape(identity.add_identity(session, actor, contact_id, item, _region(session, actor)))


def merge(sessions: Sessions, actor: Actor, contact_id: int, other_id: int, shape: Shape[T]) -> T:
    with unit_of_work(sessions) as session:
        return _with_identities(session, identity.merge_contacts(session, actor, contact_id, other_id), shape)


def timeline(
    sessions: Sessions, actor: Actor, contact_id: int, limit: int, before_id: int | None, shape: Shape[T]
) -> list[T]:
    with unit_of_work(sessions) as session:
        return [shape(e) for e in contacts.contact_timeline(session, actor, contact_id, limit, before_id)]


def conversations(sessions: Sessions, actor: Actor, contact_id: int, shape: Shape[T]) -> list[T]:
    with unit_of_work(sessions) as session:
        return [shape(c) for c in contacts.contact_conversations(session, actor, contact_id)]
