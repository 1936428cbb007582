"""Full-text search over conversations (subject, every message and note) and contacts (name,
identities), tenant-scoped and role-scoped, on the database's own full-text index
(``adapters/store/search_index.py``; the folding and query rules are ``domain/search.py``).

A conversation matches when one of its messages or its subject has every word typed, or when its
contact's name and identities do (typing a customer's name lists their conversations). An agent
only finds the conversations of their views (theirs, unassigned, their teams'); contacts follow
the contacts API, which agents may read.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.orm import Session, selectinload

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.desk import search_index
from raccordo.desk.domain.search import SearchQuery, parse_query
from raccordo.desk.models import SearchEntry
from raccordo.desk.services import inbox
from raccordo.record.models import Contact, Conversation

MAX_QUERY_CHARS = 200


def visible_clause(session: Session, actor: Actor) -> ColumnElement[bool] | None:
    """What an agent may list (``services/inbox.visible_clause``). ``None``: everything
    (supervisors and up, who have the *all* view)."""
    return inbox.visible_clause(session, actor)


def conversation_clause(session: Session, tenant_id: int, query: SearchQuery) -> ColumnElement[bool]:
    """Conversations whose subject or messages, or whose contact, match ``query``."""
    if not query:
        return false()
    # One pass over the index (a CTE read twice): message and subject entries carry the
    # conversation, contact entries the contact (the other column is NULL).
    hits = search_index.matching(
        session, tenant_id, query, None, SearchEntry.conversation_id, SearchEntry.contact_id
    ).cte("search_hits")
    return or_(
        Conversation.id.in_(select(hits.c.conversation_id)), Conversation.contact_id.in_(select(hits.c.contact_id))
    )


@dataclass(frozen=True)
class ContactHit:
    contact: Contact
    latest_conversation_id: int | None
    conversations: int


def search_contacts(session: Session, actor: Actor, text: str | None, limit: int = 5) -> list[ContactHit]:
    """Contacts whose name or identities match, most recently active first, each with its latest
    conversation (the one an agent would open)."""
    actor.require(Permission.READ)
    query = parse_query(text)
    if not query:
        return []
    ids = select(
        search_index.matching(session, actor.tenant_id, query, ("contact",), SearchEntry.contact_id)
        .cte("contact_hits")
        .c.contact_id
    )
    latest = (
        select(Conversation.contact_id, func.max(Conversation.last_activity_at).label("at"), func.count().label("n"))
        .where(Conversation.tenant_id == actor.tenant_id, Conversation.contact_id.in_(ids))
        .group_by(Conversation.contact_id)
        .subquery()
    )
    rows = session.execute(
        select(Contact, latest.c.at, latest.c.n)
        .outerjoin(latest, latest.c.contact_id == Contact.id)
        .where(Contact.tenant_id == actor.tenant_id, Contact.id.in_(ids), Contact.merged_into_id.is_(None))
        .order_by(latest.c.at.desc().nulls_last(), Contact.id.desc())
        .limit(limit)
        .options(selectinload(Contact.identities))  # the hit shows them, after the session is gone
    ).all()
    hits = []
    for contact, at, count in rows:
        latest_id = None
        if at is not None:
            latest_id = session.scalar(
                select(Conversation.id)
                .where(Conversation.tenant_id == actor.tenant_id, Conversation.contact_id == contact.id)
                .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
                .limit(1)
            )
        hits.append(ContactHit(contact, latest_id, count or 0))
    return hits
