"""Listing, reading and updating conversations (status, assignee, team, labels, priority)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, delete, false, or_, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission, can
from raccordo.accounts.models import Team, User
from raccordo.desk.domain.search import parse_query
from raccordo.desk.services import inbox, search, wrapup
from raccordo.platform.domain_events import record as record_event
from raccordo.platform.errors import Forbidden, InvalidInput, NotFound
from raccordo.platform.events import emit_conversation
from raccordo.record.domain.conversations import ConversationStatus, Priority, check_transition
from raccordo.record.domain.events import ConversationStatusChanged, ConversationUpdated
from raccordo.record.domain.messages import TimelineKind
from raccordo.record.models import Conversation, ConversationLabel, Message, TimelineEvent
from raccordo.record.services.records import add_conversation_timeline, audit, get_owned
from raccordo.record.services.snooze import cancel_snooze_end, schedule_snooze_end
from raccordo.routing.models import QueueItem


@dataclass(frozen=True)
class ConversationFilters:
    status: str | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    team_id: int | None = None
    inbox_id: int | None = None
    channel: str | None = None
    label: str | None = None
    priority: str | None = None
    contact_id: int | None = None
    team_ids: tuple[int, ...] | None = None  # the "my teams" view: conversations of these teams
    queue_id: int | None = None  # the queue of the conversation's routing item
    q: str | None = None  # full-text search (services/search.py); agents only find what their views show


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, field_name: str = "cursor") -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list):
            raise ValueError
        return values
    except (ValueError, TypeError):
        raise InvalidInput("pagination.cursor_invalid", field=field_name) from None


def list_conversations(
    session: Session, actor: Actor, filters: ConversationFilters, limit: int = 25, cursor: str | None = None
) -> tuple[list[Conversation], str | None]:
    """Most recently active first; the cursor is the (activity time, id) of the last row returned."""
    actor.require(Permission.READ)
    query = select(Conversation).where(Conversation.tenant_id == actor.tenant_id)
    if filters.status:
        ConversationStatus(filters.status)
        query = query.where(Conversation.status == filters.status)
    if filters.unassigned:
        query = query.where(Conversation.assignee_id.is_(None))
    elif filters.assignee_id is not None:
        query = query.where(Conversation.assignee_id == filters.assignee_id)
    if filters.team_id is not None:
        query = query.where(Conversation.team_id == filters.team_id)
    if filters.inbox_id is not None:
        query = query.where(Conversation.last_inbox_id == filters.inbox_id)
    if filters.channel:
        query = query.where(Conversation.last_channel == filters.channel)
    if filters.priority:
        query = query.where(Conversation.priority == filters.priority)
    if filters.contact_id is not None:
        query = query.where(Conversation.contact_id == filters.contact_id)
    if filters.team_ids is not None:
        query = query.where(Conversation.team_id.in_(filters.team_ids)) if filters.team_ids else query.where(false())
    if filters.queue_id is not None:
        query = query.where(
            Conversation.id.in_(
                select(QueueItem.conversation_id).where(
                    QueueItem.tenant_id == actor.tenant_id, QueueItem.queue_id == filters.queue_id
                )
            )
        )
    if filters.q is not None and filters.q.strip():
        query = query.where(search.conversation_clause(session, actor.tenant_id, parse_query(filters.q)))
    visible = inbox.visible_clause(session, actor)  # whatever the filters: an agent's limit holds
    if visible is not None:
        query = query.where(visible)
    if filters.label:
        query = query.where(
            Conversation.id.in_(
                select(ConversationLabel.conversation_id).where(
                    ConversationLabel.tenant_id == actor.tenant_id, ConversationLabel.label == filters.label
                )
            )
        )
    if cursor:
        values = decode_cursor(cursor)
        try:
            at, last_id = datetime.fromisoformat(values[0]), int(values[1])
        except (ValueError, IndexError, TypeError):
            raise InvalidInput("pagination.cursor_invalid", field="cursor") from None
        if at.tzinfo is None or not 0 < last_id < 2**63:
            raise InvalidInput("pagination.cursor_invalid", field="cursor")
        query = query.where(
            or_(
                Conversation.last_activity_at < at, and_(Conversation.last_activity_at == at, Conversation.id < last_id)
            )
        )
    rows = list(
        session.scalars(query.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc()).limit(limit + 1))
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([last.last_activity_at.isoformat(), last.id])
    return rows, next_cursor


def get_visible(session: Session, actor: Actor, conversation_id: int) -> Conversation:
    """The conversation, if the actor may see it (``inbox.visible_clause``); otherwise not found."""
    actor.require(Permission.READ)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
    if not inbox.can_see(session, actor, conversation):
        raise NotFound("conversation.not_found")
    return conversation


def require_can_act(session: Session, actor: Actor, conversation_id: int) -> Conversation:
    """The conversation, locked, if the actor may change it (``inbox.require_can_act``); for
    write paths that live in other modules (transfer)."""
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id, lock=True)
    inbox.require_can_act(session, actor, conversation)
    return conversation


def list_messages(
    session: Session, actor: Actor, conversation_id: int, limit: int = 50, after_id: int | None = None
) -> list[Message]:
    get_visible(session, actor, conversation_id)
    query = select(Message).where(Message.tenant_id == actor.tenant_id, Message.conversation_id == conversation_id)
    if after_id is not None:
        query = query.where(Message.id > after_id)
    return list(session.scalars(query.order_by(Message.id).limit(limit)))


def conversation_timeline(
    session: Session, actor: Actor, conversation_id: int, limit: int = 200, after_id: int | None = None
) -> list[TimelineEvent]:
    get_visible(session, actor, conversation_id)
    query = select(TimelineEvent).where(
        TimelineEvent.tenant_id == actor.tenant_id, TimelineEvent.conversation_id == conversation_id
    )
    if after_id is not None:
        query = query.where(TimelineEvent.id > after_id)
    return list(session.scalars(query.order_by(TimelineEvent.id).limit(limit)))


_UNSET: Any = object()


def update_conversation(
    session: Session,
    actor: Actor,
    conversation_id: int,
    *,
    status: str | None = None,
    assignee_id: int | None = _UNSET,
    team_id: int | None = _UNSET,
    labels: list[str] | None = None,
    priority: str | None = None,
    subject: str | None = None,
    snoozed_until: datetime | None = None,
    wrap_up_code: str | None = None,
) -> Conversation:
    actor.require(Permission.WORK)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id, lock=True)
    inbox.require_can_act(session, actor, conversation)
    now = datetime.now(UTC)
    previous_assignee = conversation.assignee_id
    previous_status = conversation.status

    def record(kind: str, data: dict[str, Any]) -> None:
        add_conversation_timeline(session, actor, conversation, kind, data)
        audit(session, actor, f"conversation.{kind}", "conversation", conversation.id, data)

    if status is not None and status != conversation.status:
        try:
            new = ConversationStatus(status)
        except ValueError:
            raise InvalidInput("conversation.status_unknown", field="status", value=status) from None
        check_transition(ConversationStatus(conversation.status), new)
        if new is ConversationStatus.SNOOZED:
            if snoozed_until is None or snoozed_until <= now:
                raise InvalidInput("conversation.snooze_needs_future", field="snoozed_until")
            conversation.snoozed_until = snoozed_until
            schedule_snooze_end(session, conversation)  # a durable timer, committed with the snooze
        else:
            if conversation.status == ConversationStatus.SNOOZED.value:
                cancel_snooze_end(session, conversation.id)
            conversation.snoozed_until = None
        conversation.resolved_at = (
            now
            if new is ConversationStatus.RESOLVED
            else (conversation.resolved_at if new is ConversationStatus.CLOSED else None)
        )
        if new is ConversationStatus.RESOLVED:
            wrapup.apply(session, actor, conversation, wrap_up_code, resolving=True)
        elif new is not ConversationStatus.CLOSED:
            conversation.wrap_up_code = None  # reopened: the next resolve gives its own outcome
        record(TimelineKind.STATUS_CHANGED, {"from": conversation.status, "to": new.value})
        conversation.status = new.value
    if assignee_id is not _UNSET and assignee_id != conversation.assignee_id:
        if assignee_id is not None:
            get_owned(session, User, actor.tenant_id, assignee_id)
        # Agents may take an unassigned conversation or release their own; anything else is a supervisor's call.
        taking = assignee_id == actor.user_id and conversation.assignee_id is None
        releasing = assignee_id is None and conversation.assignee_id == actor.user_id
        if not (taking or releasing or can(actor.role, Permission.ASSIGN_OTHERS)):
            raise Forbidden("conversation.assign_forbidden")
        record(TimelineKind.ASSIGNED, {"from": conversation.assignee_id, "to": assignee_id})
        conversation.assignee_id = assignee_id
    if team_id is not _UNSET and team_id != conversation.team_id:
        if team_id is not None:
            get_owned(session, Team, actor.tenant_id, team_id)
        record(TimelineKind.TEAM_CHANGED, {"from": conversation.team_id, "to": team_id})
        conversation.team_id = team_id
    if priority is not None and priority != conversation.priority:
        try:
            Priority(priority)
        except ValueError:
            raise InvalidInput("conversation.priority_unknown", field="priority", value=priority) from None
        record(TimelineKind.PRIORITY_CHANGED, {"from": conversation.priority, "to": priority})
        conversation.priority = priority
    if labels is not None:
        clean = sorted({label.strip().lower() for label in labels if label.strip()})
        if any(len(label) > 100 for label in clean):
            raise InvalidInput("conversation.label_too_long", field="labels")
        if clean != sorted(conversation.labels):
            record(TimelineKind.LABELS_CHANGED, {"from": conversation.labels, "to": clean})
            conversation.labels = clean
            session.execute(delete(ConversationLabel).where(ConversationLabel.conversation_id == conversation.id))
            session.add_all(
                ConversationLabel(conversation_id=conversation.id, label=label, tenant_id=actor.tenant_id)
                for label in clean
            )
    if subject is not None:
        conversation.subject = subject
    if wrap_up_code is not None and not (status == ConversationStatus.RESOLVED.value and previous_status != status):
        wrapup.apply(session, actor, conversation, wrap_up_code, resolving=False)
    conversation.updated_at = now
    session.flush()
    # SLA stops, pauses or resumes its clocks; routing keeps the queue item in step (bootstrap.subscriptions).
    if previous_status != conversation.status:
        record_event(
            session,
            ConversationStatusChanged(
                actor.tenant_id, conversation.id, previous_status, conversation.status, now, actor.user_id
            ),
        )
    if (previous_status, previous_assignee) != (conversation.status, conversation.assignee_id):
        record_event(
            session,
            ConversationUpdated(
                actor.tenant_id,
                conversation.id,
                previous_status,
                previous_assignee,
                conversation.status,
                conversation.assignee_id,
                actor.user_id,
                now,
            ),
        )
    emit_conversation(session, conversation, "conversation.updated", previous_user_id=previous_assignee)
    return conversation
