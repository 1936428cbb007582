"""The agenda as the REST API calls it (``desk/api/agenda.py``): each use case opens, commits or
rolls back its own unit of work and returns the items as plain data (their column values), so
nothing loads after the session closes."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.desk.services import agenda
from raccordo.desk.services.agenda import AgendaFilters
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain

Sessions = sessionmaker[Session]
__all__ = ["AgendaFilters", "cancel", "complete", "conversation_items", "get_item", "list_items", "schedule", "update"]


def list_items(sessions: Sessions, actor: Actor, filters: AgendaFilters, limit: int) -> list[SimpleNamespace]:
    with unit_of_work(sessions) as session:
        return [plain(item) for item in agenda.list_items(session, actor, filters, limit)]


def conversation_items(sessions: Sessions, actor: Actor, conversation_id: int) -> list[SimpleNamespace]:
    with unit_of_work(sessions) as session:
        return [plain(item) for item in agenda.conversation_items(session, actor, conversation_id)]


def get_item(sessions: Sessions, actor: Actor, item_id: int) -> SimpleNamespace:
    with unit_of_work(sessions) as session:
        return plain(agenda.get_item(session, actor, item_id))


def schedule(sessions: Sessions, actor: Actor, values: dict[str, Any]) -> SimpleNamespace:
    """``values``: the keyword arguments of ``agenda.schedule`` (conversation, kind, due time, ...)."""
    with unit_of_work(sessions) as session:
        return plain(agenda.schedule(session, actor, **values))


def update(sessions: Sessions, actor: Actor, item_id: int, changes: dict[str, Any]) -> SimpleNamespace:
    """``changes``: only the fields to change (a new due time reschedules the item)."""
    with unit_of_work(sessions) as session:
        return plain(agenda.update(session, actor, item_id, **changes))


def cancel(sessions: Sessions, actor: Actor, item_id: int) -> SimpleNamespace:
    with unit_of_work(sessions) as session:
        return plain(agenda.cancel(session, actor, item_id))


def complete(sessions: Sessions, actor: Actor, item_id: int) -> SimpleNamespace:
    with unit_of_work(sessions) as session:
        return plain(agenda.complete(session, actor, item_id))
