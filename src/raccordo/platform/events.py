"""The persisted event log: what clients see, recorded in the transaction that caused it, published after it commits.

(Not to be confused with ``platform.domain_events``, the in-process dispatcher by which services
tell each other what happened.)

``emit`` queues an event on the session. Just before commit the queued events are
inserted into ``events``; on PostgreSQL a per-tenant advisory lock is taken first, so
ids within a tenant are assigned in commit order and "everything after id N" is exact
for a client resuming from N. After the commit the events go to the runtime's
publisher (the bus). A rollback drops them: nothing is published for work that did not
happen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, text
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, sessionmaker

from raccordo.platform.store.models import Event, utcnow

_PENDING = "raccordo.pending_events"
_COMMITTED = "raccordo.committed_events"
_MARKS = "raccordo.pending_event_marks"  # savepoint -> how many events were pending when it began
# High half of the advisory lock key: "RACC"; the low half is the tenant id.
_LOCK_NAMESPACE = 0x52414343 << 32
_EVENTS = cast(Table, Event.__table__)

_INSERT_ONE = insert(_EVENTS).returning(_EVENTS.c.id)
_INSERT_MANY = insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)

Publisher = Callable[[list[dict[str, Any]]], None]


def emit(
    session: Session,
    tenant_id: int,
    kind: str,
    payload: dict[str, Any],
    *,
    conversation_id: int | None = None,
    contact_id: int | None = None,
    user_id: int | None = None,
    team_id: int | None = None,
) -> None:
    session.info.setdefault(_PENDING, []).append(
        {
            "tenant_id": tenant_id,
            "kind": str(kind),
            "payload": payload,
            "conversation_id": conversation_id,
            "contact_id": contact_id,
            "user_id": user_id,
            "team_id": team_id,
        }
    )


def event_message(row: Event) -> dict[str, Any]:
    """The JSON shape of an event on the bus and on the WebSocket."""
    return {
        "type": "event",
        "id": row.id,
        "tenant_id": row.tenant_id,
        "kind": row.kind,
        "conversation_id": row.conversation_id,
        "contact_id": row.contact_id,
        "user_id": row.user_id,
        "team_id": row.team_id,
        "payload": row.payload,
        "created_at": row.created_at.isoformat(),
    }


def _message(event_id: int, row: dict[str, Any]) -> dict[str, Any]:
    """``event_message`` for a row written by ``_write`` (a dict, not an ORM object)."""
    return {
        "type": "event",
        "id": event_id,
        "tenant_id": row["tenant_id"],
        "kind": row["kind"],
        "conversation_id": row["conversation_id"],
        "contact_id": row["contact_id"],
        "user_id": row["user_id"],
        "team_id": row["team_id"],
        "payload": row["payload"],
        "created_at": row["created_at"].isoformat(),
    }


def install(sessions: sessionmaker[Session], publisher: Callable[[], Publisher | None]) -> None:
    """Hook event writing and publishing into every session the factory makes."""

    @sa_event.listens_for(sessions, "before_commit")
    def _write(session: Session) -> None:
        pending = session.info.pop(_PENDING, None)
        if not pending:
            return
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            for tenant_id in sorted({p["tenant_id"] for p in pending}):
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_NAMESPACE | tenant_id})
        # Plain INSERT ... RETURNING id statements on the table, not an ORM object per event (no
        # identity map, no unit of work; the statement is compiled once and cached).
        session.flush()
        now = utcnow()
        rows = [{**p, "created_at": now} for p in pending]
        committed = session.info.setdefault(_COMMITTED, [])
        if len(rows) == 1:
            committed.append(_message(session.execute(_INSERT_ONE, rows[0]).scalar_one(), rows[0]))
            return
        # Several events (a message and its conversation's update): one multi-row INSERT, ids
        # matched to rows in emission order. PostgreSQL: SQLAlchemy's ordered RETURNING. SQLite
        # (which would fall back to a statement per row with ordered RETURNING): SQLAlchemy's
        # batched INSERT ... VALUES (...), (...) RETURNING id (compiled once, cached); rows
        # get increasing rowids in VALUES order (one writer at a time), so the sorted ids are the
        # rows' ids in order, whatever order RETURNING lists them in.
        if dialect == "postgresql":
            ids = list(session.execute(_INSERT_MANY, rows).scalars())
        else:
            ids = sorted(session.execute(_INSERT_ONE, rows).scalars())
        committed.extend(_message(event_id, row) for event_id, row in zip(ids, rows, strict=True))

    @sa_event.listens_for(sessions, "after_commit")
    def _publish(session: Session) -> None:
        committed = session.info.pop(_COMMITTED, None)
        publish = publisher()
        if committed and publish is not None:
            publish(committed)

    # A savepoint (begin_nested) that rolls back drops only the events emitted inside it: the
    # work around it still commits. (``after_rollback`` fires for savepoints too, so dropping
    # everything there lost the outer transaction's events.)
    @sa_event.listens_for(sessions, "after_transaction_create")
    def _mark(session: Session, transaction: Any) -> None:
        if transaction.nested:
            session.info.setdefault(_MARKS, {})[transaction] = len(session.info.get(_PENDING, ()))

    @sa_event.listens_for(sessions, "after_transaction_end")
    def _unmark(session: Session, transaction: Any) -> None:
        if transaction.parent is None:  # (a savepoint's mark is still needed: soft rollback comes after its end)
            session.info.pop(_MARKS, None)

    @sa_event.listens_for(sessions, "after_soft_rollback")
    def _drop(session: Session, previous: Any) -> None:
        if previous.nested:
            mark = session.info.get(_MARKS, {}).pop(previous, None)
            if mark is not None and _PENDING in session.info:
                del session.info[_PENDING][mark:]
            return
        if previous.parent is None:  # the whole transaction: nothing of it happened
            session.info.pop(_PENDING, None)
            session.info.pop(_COMMITTED, None)


# Committed events of these kinds mean a worker has something to do now.
WORKER_KINDS = frozenset({"outbox.queued", "job.scheduled", "queue.changed"})


def wakeups(committed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bus messages for committed events: one per tenant for the hubs, one for the workers if needed.

    The events themselves stay in the database; the bus only says "look".
    """
    messages = []
    for tenant_id in sorted({e["tenant_id"] for e in committed}):
        last = max(e["id"] for e in committed if e["tenant_id"] == tenant_id)
        messages.append({"type": "events", "tenant_id": tenant_id, "last_id": last})
    if any(e["kind"] in WORKER_KINDS for e in committed):
        messages.append({"type": "wake"})
    return messages


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def conversation_payload(conversation: Any) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "contact_id": conversation.contact_id,
        "status": conversation.status,
        "priority": conversation.priority,
        "assignee_id": conversation.assignee_id,
        "team_id": conversation.team_id,
        "labels": list(conversation.labels or []),
        "last_channel": conversation.last_channel,
        "last_inbox_id": conversation.last_inbox_id,
        "last_activity_at": when(conversation.last_activity_at),
    }


def emit_conversation(session: Session, conversation: Any, kind: str, **extra: Any) -> None:
    """conversation.created / conversation.updated, addressed to its assignee and team."""
    emit(
        session,
        conversation.tenant_id,
        kind,
        {**conversation_payload(conversation), **extra},
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        user_id=conversation.assignee_id,
        team_id=conversation.team_id,
    )


def emit_message(session: Session, message: Any, conversation: Any, kind: str = "message.created") -> None:
    emit(
        session,
        message.tenant_id,
        kind,
        {
            "id": message.id,
            "conversation_id": message.conversation_id,
            "direction": message.direction,
            "channel": message.channel,
            "inbox_id": message.inbox_id,
            "sender_type": message.sender_type,
            "sender_id": message.sender_id,
            "text": message.text[:500],
            "delivery_status": message.delivery_status,
            "created_at": when(message.created_at),
        },
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        user_id=conversation.assignee_id,
        team_id=conversation.team_id,
    )
