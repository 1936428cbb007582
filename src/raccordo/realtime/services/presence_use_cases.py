"""Presence over REST (``realtime/api/presence.py``): the tenant's agents and their state, and
setting one's own. Each opens, commits or rolls back its own unit of work and returns plain
data, so nothing loads after the session closes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.platform.store.db import unit_of_work
from raccordo.realtime.services import presence

Sessions = sessionmaker[Session]


@dataclass(frozen=True)
class PresenceView:
    user_id: int
    name: str
    status: str
    reason: str | None
    connections: int
    updated_at: datetime | None


def list_presence(sessions: Sessions, actor: Actor) -> list[PresenceView]:
    """Every active user of the tenant: their chosen state (offline without a row) and open connections."""
    actor.require(Permission.READ)
    with unit_of_work(sessions) as session:
        return [
            PresenceView(
                user_id=user.id,
                name=user.name,
                status=row.status if row else "offline",
                reason=row.reason if row else None,
                connections=connections,
                updated_at=row.updated_at if row else None,
            )
            for user, row, connections in presence.list_presence(session, actor.tenant_id)
        ]


def set_my_presence(sessions: Sessions, actor: Actor, status: str, reason: str | None) -> PresenceView:
    """Set the signed-in agent's state; their view as it now stands."""
    with unit_of_work(sessions) as session:
        row = presence.set_status(session, actor, status, reason)
        me = next(item for item in presence.list_presence(session, actor.tenant_id) if item[0].id == actor.user_id)
        return PresenceView(
            user_id=row.user_id,
            name=me[0].name,
            status=row.status,
            reason=row.reason,
            connections=me[2],
            updated_at=row.updated_at,
        )
