"""The composer and the customer panel as the REST API calls them (``desk/api/composer.py``):
each use case opens, commits or rolls back its own unit of work and returns plain data."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.desk.services import composer, customer_panel
from raccordo.desk.services.composer import Mentionable
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain

Sessions = sessionmaker[Session]


def people(sessions: Sessions, actor: Actor) -> list[Mentionable]:
    """The tenant's active users an internal note can mention, by name."""
    with unit_of_work(sessions) as session:
        return composer.mentionable(session, actor)


def record_consent(
    sessions: Sessions,
    actor: Actor,
    contact_id: int,
    *,
    purpose: str,
    granted: bool,
    source: str,
    note: str | None,
) -> SimpleNamespace:
    """Record the decision; the contact as it is afterwards, with its identities."""
    with unit_of_work(sessions) as session:
        contact = customer_panel.record_consent(
            session, actor, contact_id, purpose=purpose, granted=granted, source=source, note=note
        )
        session.refresh(contact, ["identities"])
        return plain(contact, identities=[plain(identity) for identity in contact.identities])
