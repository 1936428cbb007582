"""Agent presence: the state an agent chose (online, away with a reason, offline) and their live connections.

An agent with several tabs has several connections. Presence is stored in the database,
so every process sees the same state; a connection whose node died stops heartbeating
and is swept after the grace period, and an agent left with no connection becomes
offline then (a page reload within the grace period does not flap).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.models import User
from raccordo.platform.errors import InvalidInput
from raccordo.platform.events import emit
from raccordo.realtime.models import AgentConnection, AgentPresence
from raccordo.routing.services import routing

STATUSES = ("online", "away", "offline")


def _presence(session: Session, tenant_id: int, user_id: int) -> AgentPresence:
    """The agent's presence row, created if missing, locked for this transaction.

    Two tabs (or two processes) connecting at once would both find no row and both insert
    it: the insert skips a row that already exists, then the row is read under a lock.
    """
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
    session.execute(
        insert(AgentPresence)
        .values(user_id=user_id, tenant_id=tenant_id, status="offline", updated_at=datetime.now(UTC))
        .on_conflict_do_nothing(index_elements=[AgentPresence.user_id])
    )
    return session.scalars(
        select(AgentPresence)
        .where(AgentPresence.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _user_id(actor: Actor) -> int:
    """Presence is a person's: the system actor has none (a caller's mistake, not a user's input)."""
    if actor.user_id is None:
        raise ValueError("presence belongs to a user, not to the system actor")
    return actor.user_id


def _change(session: Session, row: AgentPresence, status: str, reason: str | None) -> None:
    if (row.status, row.reason) == (status, reason):
        return
    previous = row.status
    row.status, row.reason, row.updated_at = status, reason, datetime.now(UTC)
    emit(
        session,
        row.tenant_id,
        "presence.changed",
        {"user_id": row.user_id, "status": status, "reason": reason, "previous": previous},
        user_id=row.user_id,
    )
    routing.after_presence_change(session, row.tenant_id, status)


def connect(session: Session, actor: Actor, connection_id: str, node: str) -> AgentPresence:
    """A new tab: recorded; an offline agent comes online (an away agent stays away)."""
    session.add(AgentConnection(id=connection_id, tenant_id=actor.tenant_id, user_id=_user_id(actor), node=node))
    row = _presence(session, actor.tenant_id, _user_id(actor))
    if row.status == "offline":
        _change(session, row, "online", None)
    return row


def disconnect(session: Session, connection_id: str) -> None:
    """A tab closed. Its row stays until the grace period ends, so a reload does not make the agent offline."""
    session.execute(
        update(AgentConnection).where(AgentConnection.id == connection_id).values(last_seen_at=datetime.now(UTC))
    )


def heartbeat(session: Session, connection_ids: list[str]) -> None:
    if connection_ids:
        session.execute(
            update(AgentConnection).where(AgentConnection.id.in_(connection_ids)).values(last_seen_at=datetime.now(UTC))
        )


def set_status(session: Session, actor: Actor, status: str, reason: str | None) -> AgentPresence:
    if status not in STATUSES:
        raise InvalidInput("presence.status_unknown", field="status", value=status)
    if reason is not None and len(reason) > 64:
        raise InvalidInput("presence.reason_too_long", field="reason")
    row = _presence(session, actor.tenant_id, _user_id(actor))
    _change(session, row, status, reason if status == "away" else None)
    return row


def sweep(session: Session, grace: timedelta, now: datetime | None = None) -> list[int]:
    """Drop connections closed or silent for longer than the grace period; agents left with none go offline.

    Live connections heartbeat more often than the grace period, so they are never dropped.
    """
    now = now or datetime.now(UTC)
    session.execute(delete(AgentConnection).where(AgentConnection.last_seen_at < now - grace))
    connected = select(AgentConnection.user_id).where(AgentConnection.user_id == AgentPresence.user_id)
    rows = list(
        session.scalars(
            select(AgentPresence)
            .where(AgentPresence.status != "offline", ~connected.exists())
            .with_for_update(skip_locked=True)
        )
    )
    for row in rows:
        _change(session, row, "offline", None)
    return [row.user_id for row in rows]


def list_presence(session: Session, tenant_id: int) -> list[tuple[User, AgentPresence | None, int]]:
    users = list(
        session.scalars(select(User).where(User.tenant_id == tenant_id, User.active.is_(True)).order_by(User.id))
    )
    states = {p.user_id: p for p in session.scalars(select(AgentPresence).where(AgentPresence.tenant_id == tenant_id))}
    counts: dict[int, int] = {}
    for user_id in session.scalars(select(AgentConnection.user_id).where(AgentConnection.tenant_id == tenant_id)):
        counts[user_id] = counts.get(user_id, 0) + 1
    return [(u, states.get(u.id), counts.get(u.id, 0)) for u in users]
