"""The due time of an agenda item (``agenda.py`` schedules it): the ``agenda.due`` job.

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

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import system_actor
from raccordo.accounts.models import User
from raccordo.desk.domain import agenda as rules
from raccordo.desk.models import AgendaItem
from raccordo.desk.services.agenda import AGENDA_DUE, announce
from raccordo.platform import jobs
from raccordo.platform.events import emit_conversation
from raccordo.realtime.models import AgentPresence
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.domain.messages import TimelineKind
from raccordo.record.models import Contact, Conversation
from raccordo.record.services import conversations
from raccordo.record.services.records import add_timeline
from raccordo.routing.domain.routing import AgentState
from raccordo.routing.models import AgentCapacity, QueueItem, RoutingQueue
from raccordo.routing.services import routing, routing_pass

TIMELINE_DUE = "agenda.due"
RETRY_WHEN_ROUTING_BUSY = timedelta(seconds=1)


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
    announce(
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
    waiting = routing.after_inbound(session, conversation, now)  # the tenant's routing rules pick the queue
    emit_conversation(session, conversation, "conversation.updated")
    if waiting is not None:
        item.routed_queue_id = waiting.queue_id
        return "queued"
    return "unassigned"
