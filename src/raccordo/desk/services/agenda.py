"""The agenda: callbacks and follow-ups scheduled on a conversation, and what happens when they fall due.

Scheduling writes an ``agenda_items`` row and, in the same transaction, a keyed durable job
(``jobs.schedule``, key ``agenda:<id>``): the timer exists if and only if the item does;
rescheduling moves the job, cancelling or completing cancels it.

At the due time the worker runs ``agenda.due`` (``fire``) in the job's own transaction, so
the job becomes ``done`` together with the routing it did, or neither happens. It is
exactly once across any number of workers: ``jobs.claim_due`` hands a due job to one
worker (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serializes writers), and the
handler itself acts only on an item still ``scheduled``, under the item's row lock, so a
repeated or stale run changes nothing. What it does:

1. the conversation is reopened if needed (through ``conversations.update_conversation``,
   so timeline, audit, SLA clocks and routing stay in step); a closed or deleted one makes
   the item ``missed``;
2. under the tenant's routing lock (``routing_state``, the lock a routing pass holds, so
   capacity is never exceeded): if the owner is online with room on the conversation's
   channel (or already has the conversation), the work goes to them: offered or assigned
   through the item's queue (or the conversation's last queue) by that queue's rules
   (offer with its timeout, or direct assignment), or assigned directly when there is no
   queue;
3. otherwise the conversation leaves its assignee and waits in the item's queue, the
   conversation's last queue, or the queue the tenant's routing rules pick, where routing
   goes on as for any conversation (another agent gets it); with no queue at all it stays
   unassigned in the inbox;
4. the item becomes ``due`` with its outcome; a timeline event, and ``agenda.due`` for
   the owner (the desktop shows "Callback due: <contact>").

It uses the routing service's public primitives (``claim_tenant``, ``enqueue``,
``hand_to_agent``, ``agent_loads``), so a callback is queued, offered and assigned exactly as
routed conversations are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor, system_actor
from raccordo.accounts.domain.roles import Permission, can
from raccordo.accounts.models import Tenant, User
from raccordo.channels.base import get_channel
from raccordo.channels.models import Inbox
from raccordo.desk.domain import agenda as rules
from raccordo.desk.models import AgendaItem
from raccordo.platform import hours, jobs
from raccordo.platform.errors import Conflict, Forbidden, InvalidInput
from raccordo.platform.events import emit, emit_conversation
from raccordo.realtime.models import AgentPresence
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.domain.messages import TimelineKind
from raccordo.record.models import Contact, Conversation
from raccordo.record.services import conversations
from raccordo.record.services.identity import live_contact
from raccordo.record.services.records import add_timeline, audit, get_owned
from raccordo.routing.domain.routing import AgentState
from raccordo.routing.models import AgentCapacity, QueueItem, RoutingQueue
from raccordo.routing.services import routing, routing_pass

AGENDA_DUE = "agenda.due"
TIMELINE_SCHEDULED = "agenda.scheduled"
TIMELINE_DUE = "agenda.due"
RETRY_WHEN_ROUTING_BUSY = timedelta(seconds=1)


def job_key(item_id: int) -> str:
    return f"agenda:{item_id}"


# --- reading -------------------------------------------------------------------------------------


def tenant_zone(session: Session, tenant_id: int) -> Any:
    tenant = session.get(Tenant, tenant_id)
    return hours.tenant_zone(tenant.settings if tenant else None)


def get_item(session: Session, actor: Actor, item_id: int, *, lock: bool = False) -> AgendaItem:
    actor.require(Permission.READ)
    item = get_owned(session, AgendaItem, actor.tenant_id, item_id, lock=lock)
    if not _may_see(actor, item):
        raise Forbidden("agenda.not_yours")
    return item


def _may_see(actor: Actor, item: AgendaItem) -> bool:
    return can(actor.role, Permission.ASSIGN_OTHERS) or actor.user_id in (item.owner_id, item.created_by_id)


def _may_change(actor: Actor, item: AgendaItem) -> bool:
    return _may_see(actor, item)


@dataclass
class AgendaFilters:
    scope: str = "mine"  # mine | all (supervisors and up)
    status: str | None = None  # one status, "open" (scheduled or due) or "overdue"
    day: date | None = None  # local day in the tenant's timezone
    conversation_id: int | None = None


def list_items(
    session: Session, actor: Actor, filters: AgendaFilters, limit: int = 200, now: datetime | None = None
) -> list[AgendaItem]:
    """Items by due time. Agents see their own (owned or created); supervisors anyone's with ``scope=all``."""
    actor.require(Permission.READ)
    now = now or datetime.now(UTC)
    query = select(AgendaItem).where(AgendaItem.tenant_id == actor.tenant_id)
    if filters.scope == "all":
        if not can(actor.role, Permission.ASSIGN_OTHERS) and filters.conversation_id is None:
            raise Forbidden("agenda.scope_forbidden")
    elif filters.scope == "mine":
        query = query.where((AgendaItem.owner_id == actor.user_id) | (AgendaItem.created_by_id == actor.user_id))
    else:
        raise InvalidInput("agenda.scope_unknown", field="scope", value=filters.scope)
    if filters.conversation_id is not None:
        get_owned(session, Conversation, actor.tenant_id, filters.conversation_id)
        query = query.where(AgendaItem.conversation_id == filters.conversation_id)
    if filters.status == "open":
        query = query.where(AgendaItem.status.in_(rules.OPEN_STATUSES))
    elif filters.status == "overdue":
        query = query.where(AgendaItem.status.in_(rules.OPEN_STATUSES), AgendaItem.due_at <= now)
    elif filters.status is not None:
        if filters.status not in rules.STATUSES:
            raise InvalidInput("agenda.status_unknown", field="status", value=filters.status)
        query = query.where(AgendaItem.status == filters.status)
    if filters.day is not None:
        zone = tenant_zone(session, actor.tenant_id)
        try:
            start = datetime.combine(filters.day, datetime.min.time(), zone).astimezone(UTC)
            end = datetime.combine(filters.day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
        except OverflowError:  # the first or last day a date can hold
            raise InvalidInput("agenda.day_invalid", field="day", value=filters.day.isoformat()) from None
        query = query.where(AgendaItem.due_at >= start, AgendaItem.due_at < end)
    return list(session.scalars(query.order_by(AgendaItem.due_at, AgendaItem.id).limit(limit)))


def conversation_items(session: Session, actor: Actor, conversation_id: int) -> list[AgendaItem]:
    """Every item of one conversation (anyone who may read the conversation sees its agenda)."""
    actor.require(Permission.READ)
    get_owned(session, Conversation, actor.tenant_id, conversation_id)
    query = select(AgendaItem).where(
        AgendaItem.tenant_id == actor.tenant_id, AgendaItem.conversation_id == conversation_id
    )
    return list(session.scalars(query.order_by(AgendaItem.due_at, AgendaItem.id)))


def channel_choices(
    session: Session, actor: Actor, conversation: Conversation
) -> list[tuple[str, int | None, str, bool]]:
    """(channel, inbox id, inbox name, reachable) for the form: a phone call and each active inbox."""
    contact = live_contact(session, actor.tenant_id, conversation.contact_id)
    kinds = {identity.kind for identity in contact.identities}
    choices = [(rules.PHONE, None, "", rules.reachable(rules.PHONE, kinds))]
    for inbox in session.scalars(
        select(Inbox).where(Inbox.tenant_id == actor.tenant_id, Inbox.active.is_(True)).order_by(Inbox.name, Inbox.id)
    ):
        channel = get_channel(inbox.channel)
        choices.append(
            (
                inbox.channel,
                inbox.id,
                inbox.name,
                channel is not None and rules.reachable(inbox.channel, kinds, channel.reply_identity_kinds),
            )
        )
    return choices


# --- validation ----------------------------------------------------------------------------------


def _due(value: Any, now: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInput("agenda.due_at_required", field="due_at")
    if value.tzinfo is None:
        raise InvalidInput("agenda.due_at_timezone", field="due_at")
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00
        raise InvalidInput("agenda.due_at_out_of_range", field="due_at") from None
    if value <= now:
        raise InvalidInput("agenda.due_at_past", field="due_at")
    return value


def _kind(value: Any) -> str:
    if value not in rules.KINDS:
        raise InvalidInput("agenda.kind_unknown", field="kind", value=str(value), known=", ".join(rules.KINDS))
    return str(value)


def _note(value: Any) -> str:
    text = str(value or "").strip()
    if len(text) > rules.NOTE_MAX:
        raise InvalidInput("agenda.note_too_long", field="note", max=rules.NOTE_MAX)
    return text


def _owner(session: Session, actor: Actor, owner_id: int | None) -> int:
    if owner_id is None or owner_id == actor.user_id:
        if actor.user_id is None:
            raise InvalidInput("agenda.owner_required", field="owner_id")
        return actor.user_id
    user = get_owned(session, User, actor.tenant_id, owner_id)
    if not can(actor.role, Permission.ASSIGN_OTHERS):
        raise Forbidden("agenda.owner_forbidden")
    if not user.active:
        raise InvalidInput("agenda.owner_inactive", field="owner_id")
    return user.id


def _queue(session: Session, actor: Actor, queue_id: int | None) -> int | None:
    if queue_id is None:
        return None
    queue = get_owned(session, RoutingQueue, actor.tenant_id, queue_id)
    if not queue.active:
        raise InvalidInput("agenda.queue_inactive", field="queue_id")
    return queue.id


def _channel(
    session: Session, actor: Actor, conversation: Conversation, channel: str | None, inbox_id: int | None
) -> tuple[str, int | None]:
    """The channel and inbox to use, checked against the contact's identities (precise 422s)."""
    contact = live_contact(session, actor.tenant_id, conversation.contact_id)
    kinds = {identity.kind for identity in contact.identities}
    if inbox_id is None and channel is None:
        # No choice made: the customer's last inbox when it can still reach them, else the first
        # channel that can (a phone call first), so the default never fails on a channel that has
        # no module or an identity the contact lacks.
        usable = [(c, i) for c, i, _, ok in channel_choices(session, actor, conversation) if ok]
        last = next(((c, i) for c, i in usable if i is not None and i == conversation.last_inbox_id), None)
        if last is None and not usable:
            raise InvalidInput("agenda.channel_required", field="channel")
        channel, inbox_id = last or usable[0]
        if inbox_id is not None:
            channel = None
    if inbox_id is None:
        if channel != rules.PHONE:
            # A channel by name: the conversation's last inbox if it is of that channel, else the first active one.
            candidates = list(
                session.scalars(
                    select(Inbox)
                    .where(Inbox.tenant_id == actor.tenant_id, Inbox.channel == channel, Inbox.active.is_(True))
                    .order_by(Inbox.id)
                )
            )
            if not candidates:
                raise InvalidInput("agenda.channel_unknown", field="channel", value=str(channel))
            chosen = next((i for i in candidates if i.id == conversation.last_inbox_id), candidates[0])
            inbox_id = chosen.id
        elif not rules.reachable(rules.PHONE, kinds):
            raise InvalidInput("agenda.phone_missing", field="channel")
        else:
            return rules.PHONE, None
    inbox = get_owned(session, Inbox, actor.tenant_id, inbox_id)
    if channel is not None and channel != inbox.channel:
        raise InvalidInput(
            "agenda.channel_mismatch", field="channel", channel=str(channel), inbox_channel=inbox.channel
        )
    if not inbox.active:
        raise InvalidInput("agenda.inbox_inactive", field="inbox_id")
    implementation = get_channel(inbox.channel)
    if implementation is None:
        raise InvalidInput("channel.not_installed", field="channel", channel=inbox.channel)
    needed = rules.needed_identity_kinds(inbox.channel, implementation.reply_identity_kinds if implementation else ())
    if not needed & kinds:
        raise InvalidInput(
            "agenda.identity_missing", field="inbox_id", channel=inbox.channel, needed=", ".join(sorted(needed)) or "-"
        )
    return inbox.channel, inbox.id


# --- changes -------------------------------------------------------------------------------------


def _announce(session: Session, item: AgendaItem, kind: str = "agenda.changed", **extra: Any) -> None:
    """An event for the owner's desktop (supervisors see every event of the tenant)."""
    emit(
        session,
        item.tenant_id,
        kind,
        {
            "id": item.id,
            "kind": item.kind,
            "status": item.status,
            "due_at": item.due_at.isoformat(),
            "conversation_id": item.conversation_id,
            "owner_id": item.owner_id,
            "channel": item.channel,
            **extra,
        },
        conversation_id=item.conversation_id,
        contact_id=item.contact_id,
        user_id=item.owner_id,
    )


def schedule(
    session: Session,
    actor: Actor,
    *,
    conversation_id: int,
    kind: str,
    due_at: datetime | None,
    channel: str | None = None,
    inbox_id: int | None = None,
    queue_id: int | None = None,
    owner_id: int | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> AgendaItem:
    actor.require(Permission.WORK)
    now = now or datetime.now(UTC)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
    if conversation.status == ConversationStatus.CLOSED.value:
        raise InvalidInput("agenda.conversation_closed", field="conversation_id")
    kind = _kind(kind)
    due = _due(due_at, now)
    owner = _owner(session, actor, owner_id)
    queue = _queue(session, actor, queue_id)
    channel_name, inbox = _channel(session, actor, conversation, channel, inbox_id)
    item = AgendaItem(
        tenant_id=actor.tenant_id,
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        owner_id=owner,
        created_by_id=actor.user_id,
        kind=kind,
        channel=channel_name,
        inbox_id=inbox,
        queue_id=queue,
        due_at=due,
        note=_note(note),
        status=rules.SCHEDULED,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    jobs.schedule(
        session, AGENDA_DUE, due, {"agenda_item_id": item.id}, tenant_id=actor.tenant_id, dedupe_key=job_key(item.id)
    )
    data = {
        "agenda_item_id": item.id,
        "kind": kind,
        "channel": channel_name,
        "due_at": due.isoformat(),
        "owner_id": owner,
    }
    add_timeline(
        session,
        actor.tenant_id,
        conversation.contact_id,
        TIMELINE_SCHEDULED,
        conversation_id=conversation.id,
        actor_type=actor.actor_type,
        actor_id=actor.user_id,
        data=data,
    )
    audit(session, actor, "agenda.scheduled", "agenda_item", item.id, data)
    _announce(session, item)
    return item


_UNSET: Any = object()


def update(
    session: Session,
    actor: Actor,
    item_id: int,
    *,
    due_at: Any = _UNSET,
    kind: Any = _UNSET,
    note: Any = _UNSET,
    channel: Any = _UNSET,
    inbox_id: Any = _UNSET,
    queue_id: Any = _UNSET,
    owner_id: Any = _UNSET,
    now: datetime | None = None,
) -> AgendaItem:
    """Change an item; a new ``due_at`` reschedules it (any status becomes ``scheduled``, the job moves)."""
    actor.require(Permission.WORK)
    now = now or datetime.now(UTC)
    item = get_item(session, actor, item_id, lock=True)
    if not _may_change(actor, item):
        raise Forbidden("agenda.not_yours")
    changes: dict[str, Any] = {}
    if kind is not _UNSET:
        item.kind = changes["kind"] = _kind(kind)
    if note is not _UNSET:
        item.note = _note(note)
        changes["note"] = True
    if owner_id is not _UNSET:
        if owner_id is None:
            raise InvalidInput("agenda.owner_required", field="owner_id")
        if owner_id != item.owner_id:
            item.owner_id = changes["owner_id"] = _owner(session, actor, owner_id)
    if queue_id is not _UNSET:
        item.queue_id = changes["queue_id"] = _queue(session, actor, queue_id)
    if channel is not _UNSET or inbox_id is not _UNSET:
        conversation = get_owned(session, Conversation, actor.tenant_id, item.conversation_id)
        new_channel = None if channel is _UNSET else channel
        new_inbox = None if inbox_id is _UNSET else inbox_id
        item.channel, item.inbox_id = _channel(session, actor, conversation, new_channel, new_inbox)
        changes["channel"] = item.channel
    if due_at is not _UNSET:
        item.due_at = _due(due_at, now)
        item.status, item.outcome, item.routed_user_id, item.routed_queue_id, item.fired_at, item.completed_at = (
            rules.SCHEDULED,
            None,
            None,
            None,
            None,
            None,
        )
        jobs.schedule(
            session,
            AGENDA_DUE,
            item.due_at,
            {"agenda_item_id": item.id},
            tenant_id=item.tenant_id,
            dedupe_key=job_key(item.id),
        )
        changes["due_at"] = item.due_at.isoformat()
    item.updated_at = now
    session.flush()
    if changes:
        audit(session, actor, "agenda.updated", "agenda_item", item.id, changes)
        _announce(session, item)
    return item


def _finish(session: Session, actor: Actor, item_id: int, action: str, status: str, now: datetime | None) -> AgendaItem:
    actor.require(Permission.WORK)
    now = now or datetime.now(UTC)
    item = get_item(session, actor, item_id, lock=True)
    if not _may_change(actor, item):
        raise Forbidden("agenda.not_yours")
    if item.status == status:
        return item  # already done / cancelled: repeating the request changes nothing
    if not rules.may(action, item.status):
        raise Conflict(f"agenda.cannot_{action}", status=item.status)
    jobs.cancel(session, job_key(item.id))
    item.status, item.updated_at = status, now
    if status == rules.DONE:
        item.completed_at = now
    session.flush()
    audit(session, actor, f"agenda.{action}", "agenda_item", item.id, {"status": status})
    _announce(session, item)
    return item


def cancel(session: Session, actor: Actor, item_id: int, now: datetime | None = None) -> AgendaItem:
    return _finish(session, actor, item_id, "cancel", rules.CANCELLED, now)


def complete(session: Session, actor: Actor, item_id: int, now: datetime | None = None) -> AgendaItem:
    return _finish(session, actor, item_id, "complete", rules.DONE, now)


# --- the due time --------------------------------------------------------------------------------


def _owner_state(session: Session, tenant_id: int, user_id: int) -> AgentState | None:
    """The owner as routing sees an agent (presence, capacity, load), or None when inactive."""
    user = session.get(User, user_id)
    if user is None or user.tenant_id != tenant_id or not user.active:
        return None
    status = session.scalar(
        select(AgentPresence.status).where(AgentPresence.tenant_id == tenant_id, AgentPresence.user_id == user_id)
    )
    defaults, default_exclusive = routing_pass.default_capacity()
    profile = session.get(AgentCapacity, user_id)
    capacity = {**defaults, **{k: int(v) for k, v in (profile.capacity or {}).items()}} if profile else dict(defaults)
    exclusive = frozenset(profile.exclusive) if profile and profile.exclusive else default_exclusive
    load = routing_pass.agent_loads(session, tenant_id, user_id).get(user_id, {})
    return AgentState(user_id, status == "online", frozenset(), {}, capacity, exclusive, load, 0.0)


def _target_queue(session: Session, item: AgendaItem, conversation: Conversation) -> RoutingQueue | None:
    """The item's queue, else the conversation's last queue (active ones only)."""
    for queue_id in (
        item.queue_id,
        session.scalar(select(QueueItem.queue_id).where(QueueItem.conversation_id == conversation.id)),
    ):
        if queue_id is None:
            continue
        queue = session.get(RoutingQueue, queue_id)
        if queue is not None and queue.active and queue.tenant_id == item.tenant_id:
            return queue
    return None


def _enqueue(
    session: Session, item: AgendaItem, conversation: Conversation, queue: RoutingQueue, now: datetime
) -> QueueItem:
    placed = routing_pass.enqueue(session, conversation, queue, now, reason="agenda", agenda_item_id=item.id)
    add_timeline(
        session,
        item.tenant_id,
        conversation.contact_id,
        TimelineKind.QUEUED,
        conversation_id=conversation.id,
        data={"queue_id": queue.id, "queue": queue.name, "agenda_item_id": item.id},
    )
    return placed


@jobs.job_handler(AGENDA_DUE)
def fire(ctx: jobs.JobContext) -> dict[str, Any]:
    """The due time of an agenda item: route the work (see the module docstring). Idempotent."""
    session = ctx.session
    item = session.scalars(
        select(AgendaItem)
        .where(AgendaItem.id == ctx.payload.get("agenda_item_id"), AgendaItem.tenant_id == ctx.tenant_id)
        .with_for_update()
    ).one_or_none()
    if item is None:
        return {"fired": False, "reason": "item not found"}
    if item.status != rules.SCHEDULED:
        return {"fired": False, "reason": f"item is {item.status}"}
    now = datetime.now(UTC)
    if item.due_at > now:  # moved later, or this worker's clock is behind: wait
        ctx.run_again_at(item.due_at)
        return {"fired": False, "reason": "not due yet"}
    if (
        routing_pass.claim_tenant(session, item.tenant_id) is None
    ):  # a routing pass holds the tenant: come back in a moment
        ctx.run_again_at(now + RETRY_WHEN_ROUTING_BUSY)
        return {"fired": False, "reason": "routing busy"}
    outcome = _route(session, item, now)
    item.status = rules.MISSED if outcome.startswith("missed") else rules.DUE
    item.outcome, item.fired_at, item.updated_at = outcome, now, now
    session.flush()
    contact = session.get(Contact, item.contact_id)
    data = {
        "agenda_item_id": item.id,
        "kind": item.kind,
        "outcome": outcome,
        "user_id": item.routed_user_id,
        "queue_id": item.routed_queue_id,
    }
    add_timeline(
        session, item.tenant_id, item.contact_id, TIMELINE_DUE, conversation_id=item.conversation_id, data=data
    )
    _announce(
        session,
        item,
        "agenda.due",
        contact_name=(contact.name if contact else None) or "",
        note=item.note[:200],
        outcome=outcome,
    )
    return {"fired": True, "outcome": outcome, "conversation_id": item.conversation_id}


def _route(session: Session, item: AgendaItem, now: datetime) -> str:
    conversation = session.scalars(
        select(Conversation)
        .where(Conversation.id == item.conversation_id, Conversation.tenant_id == item.tenant_id)
        .with_for_update()
    ).one_or_none()
    if conversation is None:
        return "missed_no_conversation"
    if conversation.status == ConversationStatus.CLOSED.value:
        return "missed_closed"
    system = system_actor(item.tenant_id)
    if conversation.status != ConversationStatus.OPEN.value:
        conversations.update_conversation(session, system, conversation.id, status=ConversationStatus.OPEN.value)
    channel = conversation.last_channel or ""
    owner = _owner_state(session, item.tenant_id, item.owner_id) if item.owner_id is not None else None
    available = owner is not None and owner.online and (conversation.assignee_id == owner.id or owner.has_room(channel))
    queue = _target_queue(session, item, conversation)
    if available:
        assert owner is not None
        item.routed_user_id = owner.id
        if conversation.assignee_id == owner.id:
            emit_conversation(session, conversation, "conversation.updated")
            return "assigned"
        if queue is not None and conversation.assignee_id is None:
            placed = _enqueue(session, item, conversation, queue, now)
            offered = routing_pass.hand_to_agent(session, placed, queue, owner.id, now, "agenda")
            item.routed_queue_id = queue.id
            return "offered" if offered else "assigned"
        conversations.update_conversation(session, system, conversation.id, assignee_id=owner.id)
        return "assigned"
    # The owner is away (or full). A colleague who holds the conversation now and is online
    # keeps it (taking it from them would be a surprise); otherwise it goes to a queue, where
    # routing goes on as usual.
    if conversation.assignee_id is not None and conversation.assignee_id != item.owner_id:
        holder = _owner_state(session, item.tenant_id, conversation.assignee_id)
        if holder is not None and holder.online:
            item.routed_user_id = holder.id
            emit_conversation(session, conversation, "conversation.updated")
            return "assigned"
    if conversation.assignee_id is not None:
        conversations.update_conversation(session, system, conversation.id, assignee_id=None)
    if queue is not None:
        _enqueue(session, item, conversation, queue, now)
        routing.request_routing(session, item.tenant_id, "agenda")
        item.routed_queue_id = queue.id
        emit_conversation(session, conversation, "conversation.updated")
        return "queued"
    placed = routing.after_inbound(session, conversation, now)  # the tenant's routing rules pick the queue
    emit_conversation(session, conversation, "conversation.updated")
    if placed is not None:
        item.routed_queue_id = placed.queue_id
        return "queued"
    return "unassigned"
