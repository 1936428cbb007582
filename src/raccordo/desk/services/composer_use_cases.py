"""The composer and the customer panel as the REST API calls them (``desk/api/composer.py``):
each use case opens, commits or rolls back its own unit of work and returns plain data."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.channels.base import MessageTemplate, get_channel
from raccordo.channels.models import Inbox
from raccordo.desk.services import composer, customer_panel
from raccordo.desk.services import inbox as inbox_access
from raccordo.desk.services.composer import Mentionable
from raccordo.platform.errors import NotFound
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain
from raccordo.record.models import Conversation
from raccordo.record.services import reply
from raccordo.record.services.records import get_owned

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


def channel_templates(
    sessions: Sessions, actor: Actor, conversation_id: int, inbox_id: int | None
) -> list[MessageTemplate]:
    """The provider templates an agent may send on ``inbox_id`` (default: the customer's last inbox) in
    this conversation (the composer's template picker), each prefilled from the contact and saying why
    it is unavailable, if it is."""
    actor.require(Permission.WORK)
    with unit_of_work(sessions) as session:
        conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
        if not inbox_access.can_see(session, actor, conversation):
            raise NotFound("error.not_found_id", kind="conversations", id=conversation_id)
        inbox_id = inbox_id if inbox_id is not None else conversation.last_inbox_id
        if inbox_id is None:
            return []
        inbox = get_owned(session, Inbox, actor.tenant_id, inbox_id)
        channel = get_channel(inbox.channel)
        if channel is None or not channel.composer.templates_outside_window:
            return []
        return channel.message_templates(dict(inbox.settings or {}), reply.contact_facts(session, conversation))
