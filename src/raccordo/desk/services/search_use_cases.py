"""Full-text search as the REST API calls it (``GET /api/v1/search``): one unit of work finds
the contacts and the first page of conversations, returned as plain data. A module of its own
because the record's conversation list, which this calls, itself uses ``services/search.py``."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.desk.services import search
from raccordo.desk.services.search import MAX_QUERY_CHARS
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain
from raccordo.record.services import conversations

Sessions = sessionmaker[Session]
__all__ = ["MAX_QUERY_CHARS", "ContactFound", "Found", "search_all"]


@dataclass(frozen=True)
class ContactFound:
    contact: SimpleNamespace  # plain data, with its identities
    latest_conversation_id: int | None
    conversations: int


@dataclass(frozen=True)
class Found:
    contacts: list[ContactFound]
    conversations: list[SimpleNamespace]
    next_cursor: str | None  # for GET /api/v1/conversations?q=… (same text): more conversations


def search_all(sessions: Sessions, actor: Actor, text: str, limit: int) -> Found:
    """Contacts and conversations matching ``text``, at most ``limit`` of each."""
    with unit_of_work(sessions) as session:
        hits = search.search_contacts(session, actor, text, limit)
        rows, next_cursor = conversations.list_conversations(
            session, actor, conversations.ConversationFilters(q=text), limit
        )
        return Found(
            contacts=[
                ContactFound(
                    plain(h.contact, identities=[plain(i) for i in h.contact.identities]),
                    h.latest_conversation_id,
                    h.conversations,
                )
                for h in hits
            ],
            conversations=[plain(c) for c in rows],
            next_cursor=next_cursor,
        )
