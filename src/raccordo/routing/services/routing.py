"""Routing (ACD): put conversations into queues, assign them to agents, record what happened.
The routing pass that decides is ``routing_pass.py``; an agent's answer to an offer is
``offers.py``; a person handing a conversation on is ``transfers.py``.

How it holds across processes:

- Anything that may allow an assignment (a conversation queued, an agent online, capacity
  freed, a decline) appends a ``routing_requests`` row in its own transaction and emits
  ``queue.changed``, which wakes the workers after the commit.
- A routing pass (``dispatch``) runs for one tenant at a time: it locks the tenant's
  ``routing_state`` row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a second worker skips
  the tenant instead of waiting; SQLite serializes writers), locks the waiting and offered
  items, reads agents' presence and load, asks ``domain.board.RoutingBoard`` for the
  decisions and writes them, all in one transaction. So no conversation is offered to two
  agents and no agent exceeds capacity, whatever the number of processes.
- Time-based changes (offer timeouts, skill relaxation, overflow, preferred-agent holds,
  decline cool-downs, queues opening) set ``routing_state.next_run_at``; the worker runs
  the pass again then. The requests consumed are exactly those read at the start, so a
  request committed during a pass triggers the next one.

Agent load is counted from the database at each pass: open and pending conversations
assigned to the agent, by channel, plus the offers waiting for their answer. Manual
assignment by a supervisor may exceed capacity on purpose; routing never does.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import system_actor
from raccordo.platform import config_cache
from raccordo.platform.domain_events import record as record_event
from raccordo.platform.errors import RaccordoError
from raccordo.platform.events import emit, emit_conversation
from raccordo.platform.hours import parse_business_hours
from raccordo.platform.i18n import translate
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.domain.messages import TimelineKind
from raccordo.record.models import Contact, Conversation, ConversationLabel
from raccordo.record.services.records import add_timeline
from raccordo.record.services.reply import send_reply
from raccordo.routing.domain.events import ConversationAssigned
from raccordo.routing.domain.rules import rule_matches
from raccordo.routing.models import (
    QueueItem,
    RoutingEvent,
    RoutingQueue,
    RoutingRequest,
    RoutingRule,
)

log = logging.getLogger(__name__)

WAITING, OFFERED, ASSIGNED, DONE = "waiting", "offered", "assigned", "done"
ACTIVE = (WAITING, OFFERED)
LOADING_STATUSES = (ConversationStatus.OPEN.value, ConversationStatus.PENDING.value)
CLOSED_QUEUE_RECHECK = timedelta(seconds=60)


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _lock(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# --- requests ------------------------------------------------------------------------------------


def request_routing(session: Session, tenant_id: int, reason: str) -> None:
    """Ask for a routing pass of the tenant after this transaction commits."""
    session.add(RoutingRequest(tenant_id=tenant_id, reason=reason[:32], created_at=datetime.now(UTC)))
    emit(session, tenant_id, "queue.changed", {"reason": reason})


def record(
    session: Session,
    tenant_id: int,
    conversation_id: int,
    kind: str,
    *,
    queue_id: int | None = None,
    user_id: int | None = None,
    at: datetime | None = None,
    **data: Any,
) -> None:
    session.add(
        RoutingEvent(
            tenant_id=tenant_id,
            conversation_id=conversation_id,
            queue_id=queue_id,
            user_id=user_id,
            kind=kind,
            at=at or datetime.now(UTC),
            data=data,
        )
    )


# --- queueing ------------------------------------------------------------------------------------


_UNKNOWN: Any = object()


def conversation_facts(session: Session, conversation: Conversation, queue_id: int | None = _UNKNOWN) -> dict[str, Any]:
    """What routing rules and SLA policies match on (``domain.rules.rule_matches``); pass
    ``queue_id`` when the conversation's queue item is already loaded."""
    contact = session.get(Contact, conversation.contact_id)
    if queue_id is _UNKNOWN:
        queue_id = session.scalar(select(QueueItem.queue_id).where(QueueItem.conversation_id == conversation.id))
    return {
        "channel": conversation.last_channel,
        "inbox_id": conversation.last_inbox_id,
        "language": contact.language if contact else None,
        "labels": list(conversation.labels or []),
        "priority": conversation.priority,
        "queue_id": queue_id,
        "contact": dict(contact.custom_attributes or {}) if contact else {},
        "conversation": dict(conversation.custom_attributes or {}),
    }


def _item_for(session: Session, conversation_id: int, *, lock: bool = True) -> QueueItem | None:
    query = select(QueueItem).where(QueueItem.conversation_id == conversation_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def _preferred_agent(session: Session, conversation: Conversation, queue: RoutingQueue, now: datetime) -> int | None:
    if queue.preferred_agent_seconds <= 0:
        return None
    since = now - timedelta(hours=queue.preferred_agent_hours)
    return session.scalar(
        select(Conversation.assignee_id)
        .where(
            Conversation.tenant_id == conversation.tenant_id,
            Conversation.contact_id == conversation.contact_id,
            Conversation.id != conversation.id,
            Conversation.assignee_id.is_not(None),
            Conversation.last_activity_at >= since,
        )
        .order_by(Conversation.last_activity_at.desc())
        .limit(1)
    )


def _place(
    session: Session,
    conversation: Conversation,
    queue: RoutingQueue,
    *,
    priority: int,
    skills: dict[str, int],
    rule_id: int | None,
    now: datetime,
) -> QueueItem:
    """Put the conversation into ``queue`` as waiting (a new row, or its row reused)."""
    item = _item_for(session, conversation.id)
    if item is None:
        item = QueueItem(tenant_id=conversation.tenant_id, conversation_id=conversation.id, enqueued_at=now)
        session.add(item)
    elif item.status not in ACTIVE:
        item.enqueued_at = now
    item.queue_id, item.rule_id, item.priority, item.required_skills = queue.id, rule_id, priority, dict(skills)
    item.channel = conversation.last_channel or ""
    item.status, item.queued_at, item.updated_at = WAITING, now, now
    item.offered_user_id = item.offer_expires_at = item.assigned_user_id = None
    item.declined = {}
    item.preferred_user_id = _preferred_agent(session, conversation, queue, now)
    session.flush()
    return item


def active_rules(session: Session, tenant_id: int) -> list[RoutingRule]:
    """The tenant's active rules in order, from the per-process configuration cache (read-only
    detached rows: ``platform.config_cache`` says how soon a change is seen)."""
    return config_cache.cached(session, tenant_id, "routing.active_rules", lambda s: _load_active_rules(s, tenant_id))


def _load_active_rules(session: Session, tenant_id: int) -> list[RoutingRule]:
    return list(
        session.scalars(
            select(RoutingRule)
            .where(RoutingRule.tenant_id == tenant_id, RoutingRule.active.is_(True))
            .order_by(RoutingRule.position, RoutingRule.id)
        )
    )


def after_inbound(
    session: Session,
    conversation: Conversation,
    now: datetime | None = None,
    *,
    created: bool = False,
    rules: list[RoutingRule] | None = None,
) -> QueueItem | None:
    """A customer message arrived: an open, unassigned conversation not yet in a queue is queued by the rules.

    ``created``: the conversation was created in this transaction, so no other can see or change
    it and it has no queue item yet (nothing to lock or to look up)."""
    now = now or datetime.now(UTC)
    if conversation.id is not None and not created:
        # Decide on the committed row, locked, not on the caller's copy: ingest reads the
        # conversation before it waits for its row, and an agent may accept the offer (or resolve)
        # in between; re-queuing from a stale "unassigned" left a waiting item on a conversation
        # assigned to that agent. Same lock order as the services: the conversation, then its item.
        session.flush()
        session.refresh(conversation, attribute_names=["status", "assignee_id"], with_for_update=True)
    if conversation.status != ConversationStatus.OPEN.value or conversation.assignee_id is not None:
        return None
    existing = None if created else _item_for(session, conversation.id)
    if existing is not None and existing.status in ACTIVE:
        return existing
    rules = active_rules(session, conversation.tenant_id) if rules is None else rules
    if not rules:  # a tenant that does not route: no facts to gather
        return None
    facts = conversation_facts(session, conversation, existing.queue_id if existing is not None else None)
    for rule in rules:
        if not rule_matches(rule.conditions or [], facts):
            continue
        queue = session.get(RoutingQueue, rule.queue_id)
        if queue is None or not queue.active:
            continue
        item = _place(
            session,
            conversation,
            queue,
            priority=rule.priority,
            skills=rule.required_skills or {},
            rule_id=rule.id,
            now=now,
        )
        record(
            session,
            conversation.tenant_id,
            conversation.id,
            "queued",
            queue_id=queue.id,
            at=now,
            rule_id=rule.id,
            priority=rule.priority,
        )
        add_timeline(
            session,
            conversation.tenant_id,
            conversation.contact_id,
            TimelineKind.QUEUED,
            conversation_id=conversation.id,
            data={"queue_id": queue.id, "queue": queue.name, "rule_id": rule.id},
        )
        if queue.business_hours and not parse_business_hours(queue.business_hours).is_open(now):
            _out_of_hours(session, conversation, queue, item, now)
        request_routing(session, conversation.tenant_id, "queued")
        return item
    return None


def requeue(session: Session, conversation: Conversation, *, reason: str, now: datetime) -> bool:
    """Take the conversation from its agent and put it back in its queue as waiting, ahead of the
    items of its priority and not offered again to that agent before the decline cool-down
    (an SLA breach's ``reassign``). True when it had an agent to take it from."""
    previous = conversation.assignee_id
    if previous is None:
        return False
    item = _item_for(session, conversation.id)
    conversation.assignee_id = None
    if item is not None:
        item.status, item.assigned_user_id, item.queued_at, item.declined = (
            WAITING,
            None,
            now,
            {str(previous): now.isoformat()},
        )
        item.offered_user_id = item.offer_expires_at = None
        item.priority += 1
        item.updated_at = now
    request_routing(session, conversation.tenant_id, reason)
    return True


def _out_of_hours(
    session: Session, conversation: Conversation, queue: RoutingQueue, item: QueueItem, now: datetime
) -> None:
    """The queue is closed: keep the conversation queued, and with ``message`` or ``callback``
    tell the customer on their channel (``callback`` also labels it for a call back first
    thing, and moves it ahead in the queue). A channel that cannot answer now (no module,
    no reachable identity, a closed message window) keeps the conversation queued all the same."""
    action = queue.out_of_hours_action
    sent = None
    if action in ("message", "callback"):
        contact = session.get(Contact, conversation.contact_id)
        language = (contact.language if contact else None) or "it"
        text = queue.out_of_hours_message or translate(f"routing.out_of_hours_{action}", language)
        try:
            with session.begin_nested():
                sent = send_reply(
                    session,
                    None,  # type: ignore[arg-type]  # a notice without attachments never uses the file store
                    system_actor(conversation.tenant_id),
                    conversation.id,
                    text=text,
                    max_attachment_bytes=0,
                    automatic=True,
                ).id
        except RaccordoError as exc:
            log.info("out-of-hours notice not sent on conversation %s: %s", conversation.id, exc.key)
    if action == "callback":
        if "callback" not in (conversation.labels or []):
            conversation.labels = sorted({*(conversation.labels or []), "callback"})
            session.add(
                ConversationLabel(conversation_id=conversation.id, label="callback", tenant_id=conversation.tenant_id)
            )
        item.priority += 1
    record(
        session,
        conversation.tenant_id,
        conversation.id,
        "out_of_hours",
        queue_id=queue.id,
        at=now,
        action=action,
        message_id=sent,
    )


def after_conversation_change(
    session: Session,
    conversation: Conversation,
    *,
    user_id: int | None,
    previous_status: str,
    previous_assignee: int | None,
    now: datetime | None = None,
) -> None:
    """A person changed status or assignee: keep the queue item and the routing events in step."""
    now = now or datetime.now(UTC)
    item = _item_for(session, conversation.id)
    closed = conversation.status in (ConversationStatus.RESOLVED.value, ConversationStatus.CLOSED.value)
    frees_capacity = previous_assignee is not None and (
        previous_assignee != conversation.assignee_id
        or (previous_status in LOADING_STATUSES and conversation.status not in LOADING_STATUSES)
    )
    if item is not None and item.status in ACTIVE:
        if closed:
            answered = conversation.first_response_at is not None
            record(
                session,
                conversation.tenant_id,
                conversation.id,
                "resolved" if answered else "abandoned",
                queue_id=item.queue_id,
                user_id=user_id,
                at=now,
                while_status=item.status,
                **({"wrap_up_code": conversation.wrap_up_code} if conversation.wrap_up_code else {}),
            )
            frees_capacity = frees_capacity or item.status == OFFERED
            item.status, item.offered_user_id, item.offer_expires_at = DONE, None, None
        elif conversation.assignee_id is not None:
            frees_capacity = frees_capacity or item.status == OFFERED
            record(
                session,
                conversation.tenant_id,
                conversation.id,
                "assigned",
                queue_id=item.queue_id,
                user_id=conversation.assignee_id,
                at=now,
                manual=True,
                by=user_id,
            )
            item.status, item.assigned_user_id, item.offered_user_id, item.offer_expires_at = (
                ASSIGNED,
                conversation.assignee_id,
                None,
                None,
            )
        item.updated_at = now
    elif item is not None and item.status == ASSIGNED and closed:
        record(
            session,
            conversation.tenant_id,
            conversation.id,
            "resolved",
            queue_id=item.queue_id,
            user_id=conversation.assignee_id,
            at=now,
            **({"wrap_up_code": conversation.wrap_up_code} if conversation.wrap_up_code else {}),
        )
        item.status, item.updated_at = DONE, now
    if frees_capacity:
        request_routing(session, conversation.tenant_id, "capacity_freed")


def after_first_response(session: Session, conversation: Conversation, user_id: int | None, now: datetime) -> None:
    item = _item_for(session, conversation.id, lock=False)
    record(
        session,
        conversation.tenant_id,
        conversation.id,
        "first_response",
        queue_id=item.queue_id if item else None,
        user_id=user_id,
        at=now,
    )


def after_presence_change(session: Session, tenant_id: int, status: str) -> None:
    if status == "online":
        request_routing(session, tenant_id, "agent_online")


# --- assignment ----------------------------------------------------------------------------------


def _assign(session: Session, item: QueueItem, conversation: Conversation, user_id: int, now: datetime) -> None:
    """Give the conversation to ``user_id`` as routing does (a direct assignment of the routing pass, or
    an accepted offer): the item assigned, the timeline, ``conversation.updated`` and ``ConversationAssigned``."""
    previous = conversation.assignee_id
    conversation.assignee_id = user_id
    conversation.updated_at = now
    item.status, item.assigned_user_id, item.offered_user_id, item.offer_expires_at, item.updated_at = (
        ASSIGNED,
        user_id,
        None,
        None,
        now,
    )
    add_timeline(
        session,
        conversation.tenant_id,
        conversation.contact_id,
        TimelineKind.ASSIGNED,
        conversation_id=conversation.id,
        data={"from": previous, "to": user_id, "by": "routing", "queue_id": item.queue_id},
    )
    session.flush()
    emit_conversation(session, conversation, "conversation.updated", previous_user_id=previous)
    record_event(
        session, ConversationAssigned(conversation.tenant_id, conversation.id, user_id, previous, item.queue_id, now)
    )
