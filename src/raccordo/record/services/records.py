"""Tenant-scoped lookups, the timeline and the audit log, shared by every service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.platform.errors import NotFound
from raccordo.platform.store.models import Base, utcnow
from raccordo.record.models import AuditEntry, Conversation, TimelineEvent
from raccordo.routing.models import QueueItem, RoutingEvent

M = TypeVar("M", bound=Base)


def get_owned(session: Session, model: type[M], tenant_id: int, id_: int, *, lock: bool = False) -> M:
    """The row with this id if it belongs to the tenant; otherwise 404, never another tenant's row."""
    if not 0 < id_ < 2**63:
        raise NotFound("error.not_found_id", kind=model.__tablename__, id=id_)
    query = session.query(model).filter(model.id == id_, model.tenant_id == tenant_id)  # type: ignore[attr-defined]
    if lock:
        query = query.with_for_update()
    row = query.one_or_none()
    if row is None:
        raise NotFound("error.not_found_id", kind=model.__tablename__, id=id_)
    return row


def add_timeline(
    session: Session,
    tenant_id: int,
    contact_id: int,
    kind: str,
    *,
    conversation_id: int | None = None,
    actor_type: str = "system",
    actor_id: int | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> TimelineEvent:
    """Append an event; ``at`` dates it when history is loaded after the fact (imports, demo)."""
    event = TimelineEvent(
        tenant_id=tenant_id,
        contact_id=contact_id,
        conversation_id=conversation_id,
        kind=kind,
        actor_type=actor_type,
        actor_id=actor_id,
        data=data or {},
    )
    if at is not None:
        event.created_at = at
    session.add(event)
    return event


# A plain INSERT on the table (compiled once, cached): no ORM object, no unit of work.
_INSERT_TIMELINE = insert(Base.metadata.tables[TimelineEvent.__tablename__])


@dataclass
class TimelineRows:
    """Timeline events of one use case, written together by ``write`` in one statement.

    For hot paths (ingest): the events are append-only and nothing reads them back in the same
    transaction, so they need no ORM object and no flush of their own. Every row references rows
    that must already be in the database (flushed) when ``write`` runs.

    ``at`` dates the rows added without a time of their own (ingest: the message's time, which the
    demo sets to its simulated past); without either, a row is dated when it is written.
    """

    at: datetime | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        tenant_id: int,
        contact_id: int,
        kind: str,
        *,
        conversation_id: int | None = None,
        actor_type: str = "system",
        actor_id: int | None = None,
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        # Every row has the same keys: the rows go out as one executemany.
        self.rows.append(
            {
                "tenant_id": tenant_id,
                "contact_id": contact_id,
                "conversation_id": conversation_id,
                "kind": kind,
                "actor_type": actor_type,
                "actor_id": actor_id,
                "data": data or {},
                "created_at": at or self.at,
            }
        )

    def write(self, session: Session) -> None:
        """Insert the rows added so far (in order, so their ids follow it) and forget them."""
        if self.rows:
            now = utcnow()
            session.execute(_INSERT_TIMELINE, [{**row, "created_at": row["created_at"] or now} for row in self.rows])
            self.rows = []

    def add_objects(self, session: Session) -> None:
        """Add the rows as ORM objects instead (flushed with the rest; an undated one takes the
        column default, or what a session hook stamps on new objects: the demo's history clock)."""
        for row in self.rows:
            event = TimelineEvent(**{k: v for k, v in row.items() if k != "created_at"})
            if row["created_at"] is not None:
                event.created_at = row["created_at"]
            session.add(event)
        self.rows = []


def add_conversation_timeline(
    session: Session, actor: Actor, conversation: Conversation, kind: str, data: dict[str, Any]
) -> None:
    """A timeline event of this conversation, by the acting user (or the system)."""
    add_timeline(
        session,
        actor.tenant_id,
        conversation.contact_id,
        kind,
        conversation_id=conversation.id,
        actor_type=actor.actor_type,
        actor_id=actor.user_id,
        data=data,
    )


def audit(
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: int | None,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            tenant_id=actor.tenant_id,
            user_id=actor.user_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            data=data or {},
            client_address=actor.client_address,
        )
    )


def queues_went_through(session: Session, conversation_id: int) -> set[int]:
    """Every queue a conversation was routed through (its routing events) or waits in now."""
    queue_ids = {
        queue_id
        for queue_id in session.scalars(
            select(RoutingEvent.queue_id).where(
                RoutingEvent.conversation_id == conversation_id, RoutingEvent.queue_id.is_not(None)
            )
        )
        if queue_id is not None  # (never: the query leaves them out; this tells the type checker)
    }
    return queue_ids | set(
        session.scalars(select(QueueItem.queue_id).where(QueueItem.conversation_id == conversation_id))
    )
