"""Routing (ACD): put conversations into queues, offer or assign them to agents, record what happened.

How it holds across processes:

- Anything that may allow an assignment (a conversation queued, an agent online, capacity
  freed, a decline) appends a ``routing_requests`` row in its own transaction and emits
  ``queue.changed``, which wakes the workers after the commit.
- A routing pass (``dispatch``) runs for one tenant at a time: it locks the tenant's
  ``routing_state`` row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a second worker skips
  the tenant instead of waiting; SQLite serializes writers), locks the waiting and offered
  items, reads agents' presence and load, asks ``domain.routing.RoutingBoard`` for the
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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor, system_actor
from raccordo.accounts.domain.roles import Permission, can
from raccordo.channels.base import channel_kinds, get_channel
from raccordo.platform.errors import Conflict, Forbidden, InvalidInput, RaccordoError
from raccordo.platform.domain_events import record as record_event
from raccordo.platform.events import emit, emit_conversation
from raccordo.platform.hours import parse_business_hours
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.accounts.models import Team, User
from raccordo.realtime.models import AgentPresence
from raccordo.record.models import Contact, Conversation, ConversationLabel
from raccordo.routing.models import AgentCapacity, AgentSkill, QueueItem, QueueMember, RoutingEvent, RoutingQueue, RoutingRequest, RoutingRule, RoutingState, Skill
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.domain.messages import TimelineKind
from raccordo.record.services.records import add_timeline, audit, get_owned
from raccordo.record.services.reply import add_note, send_reply
from raccordo.routing.domain.events import ConversationAssigned
from raccordo.routing.domain.routing import AgentState, QueuePolicy, RelaxStep, RoutingBoard, WaitingItem, next_relaxation, rule_matches

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


def record(session: Session, tenant_id: int, conversation_id: int, kind: str, *, queue_id: int | None = None, user_id: int | None = None, at: datetime | None = None, **data: Any) -> None:
    session.add(RoutingEvent(tenant_id=tenant_id, conversation_id=conversation_id, queue_id=queue_id, user_id=user_id, kind=kind, at=at or datetime.now(UTC), data=data))


# --- queueing ------------------------------------------------------------------------------------


_UNKNOWN: Any = object()


def conversation_facts(session: Session, conversation: Conversation, queue_id: int | None = _UNKNOWN) -> dict[str, Any]:
    """What routing rules and SLA policies match on (``domain.routing.rule_matches``); pass
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
            Conversation.tenant_id == conversation.tenant_id, Conversation.contact_id == conversation.contact_id,
            Conversation.id != conversation.id, Conversation.assignee_id.is_not(None), Conversation.last_activity_at >= since,
        )
        .order_by(Conversation.last_activity_at.desc())
        .limit(1)
    )


def _place(session: Session, conversation: Conversation, queue: RoutingQueue, *, priority: int, skills: dict[str, int], rule_id: int | None, now: datetime) -> QueueItem:
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
    return list(session.scalars(
        select(RoutingRule).where(RoutingRule.tenant_id == tenant_id, RoutingRule.active.is_(True)).order_by(RoutingRule.position, RoutingRule.id)
    ))


def after_inbound(
    session: Session, conversation: Conversation, now: datetime | None = None, *, created: bool = False, rules: list[RoutingRule] | None = None,
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
        item = _place(session, conversation, queue, priority=rule.priority, skills=rule.required_skills or {}, rule_id=rule.id, now=now)
        record(session, conversation.tenant_id, conversation.id, "queued", queue_id=queue.id, at=now, rule_id=rule.id, priority=rule.priority)
        add_timeline(session, conversation.tenant_id, conversation.contact_id, TimelineKind.QUEUED, conversation_id=conversation.id, data={"queue_id": queue.id, "queue": queue.name, "rule_id": rule.id})
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
        item.status, item.assigned_user_id, item.queued_at, item.declined = WAITING, None, now, {str(previous): now.isoformat()}
        item.offered_user_id = item.offer_expires_at = None
        item.priority += 1
        item.updated_at = now
    request_routing(session, conversation.tenant_id, reason)
    return True


def _out_of_hours(session: Session, conversation: Conversation, queue: RoutingQueue, item: QueueItem, now: datetime) -> None:
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
                sent = send_reply(session, None, system_actor(conversation.tenant_id), conversation.id, text=text, max_attachment_bytes=0, automatic=True).id  # type: ignore[arg-type]
        except RaccordoError as exc:
            log.info("out-of-hours notice not sent on conversation %s: %s", conversation.id, exc.key)
    if action == "callback":
        if "callback" not in (conversation.labels or []):
            conversation.labels = sorted({*(conversation.labels or []), "callback"})
            session.add(ConversationLabel(conversation_id=conversation.id, label="callback", tenant_id=conversation.tenant_id))
        item.priority += 1
    record(session, conversation.tenant_id, conversation.id, "out_of_hours", queue_id=queue.id, at=now, action=action, message_id=sent)


def after_conversation_change(
    session: Session, conversation: Conversation, *, user_id: int | None, previous_status: str, previous_assignee: int | None, now: datetime | None = None,
) -> None:
    """A person changed status or assignee: keep the queue item and the routing events in step."""
    now = now or datetime.now(UTC)
    item = _item_for(session, conversation.id)
    closed = conversation.status in (ConversationStatus.RESOLVED.value, ConversationStatus.CLOSED.value)
    frees_capacity = previous_assignee is not None and (previous_assignee != conversation.assignee_id or (previous_status in LOADING_STATUSES and conversation.status not in LOADING_STATUSES))
    if item is not None and item.status in ACTIVE:
        if closed:
            answered = conversation.first_response_at is not None
            record(session, conversation.tenant_id, conversation.id, "resolved" if answered else "abandoned", queue_id=item.queue_id, user_id=user_id, at=now, while_status=item.status,
                   **({"wrap_up_code": conversation.wrap_up_code} if conversation.wrap_up_code else {}))
            frees_capacity = frees_capacity or item.status == OFFERED
            item.status, item.offered_user_id, item.offer_expires_at = DONE, None, None
        elif conversation.assignee_id is not None:
            frees_capacity = frees_capacity or item.status == OFFERED
            record(session, conversation.tenant_id, conversation.id, "assigned", queue_id=item.queue_id, user_id=conversation.assignee_id, at=now, manual=True, by=user_id)
            item.status, item.assigned_user_id, item.offered_user_id, item.offer_expires_at = ASSIGNED, conversation.assignee_id, None, None
        item.updated_at = now
    elif item is not None and item.status == ASSIGNED and closed:
        record(session, conversation.tenant_id, conversation.id, "resolved", queue_id=item.queue_id, user_id=conversation.assignee_id, at=now,
               **({"wrap_up_code": conversation.wrap_up_code} if conversation.wrap_up_code else {}))
        item.status, item.updated_at = DONE, now
    if frees_capacity:
        request_routing(session, conversation.tenant_id, "capacity_freed")


def after_first_response(session: Session, conversation: Conversation, user_id: int | None, now: datetime) -> None:
    item = _item_for(session, conversation.id, lock=False)
    record(session, conversation.tenant_id, conversation.id, "first_response", queue_id=item.queue_id if item else None, user_id=user_id, at=now)


def after_presence_change(session: Session, tenant_id: int, status: str) -> None:
    if status == "online":
        request_routing(session, tenant_id, "agent_online")


# --- offers --------------------------------------------------------------------------------------


def _assign(session: Session, item: QueueItem, conversation: Conversation, user_id: int, now: datetime) -> None:
    previous = conversation.assignee_id
    conversation.assignee_id = user_id
    conversation.updated_at = now
    item.status, item.assigned_user_id, item.offered_user_id, item.offer_expires_at, item.updated_at = ASSIGNED, user_id, None, None, now
    add_timeline(session, conversation.tenant_id, conversation.contact_id, TimelineKind.ASSIGNED, conversation_id=conversation.id, data={"from": previous, "to": user_id, "by": "routing", "queue_id": item.queue_id})
    session.flush()
    emit_conversation(session, conversation, "conversation.updated", previous_user_id=previous)
    record_event(session, ConversationAssigned(conversation.tenant_id, conversation.id, user_id, previous, item.queue_id, now))


def _my_offer(session: Session, actor: Actor, conversation_id: int) -> tuple[Conversation, QueueItem]:
    """The conversation and its item, locked, while it is offered to the actor; 409 otherwise."""
    actor.require(Permission.WORK)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id, lock=True)
    item = _item_for(session, conversation.id)
    if item is None or item.status != OFFERED or item.offered_user_id != actor.user_id:
        raise Conflict("routing.offer_gone")
    return conversation, item


def accept_offer(session: Session, actor: Actor, conversation_id: int, now: datetime | None = None) -> Conversation:
    now = now or datetime.now(UTC)
    conversation, item = _my_offer(session, actor, conversation_id)
    if item.offer_expires_at is not None and item.offer_expires_at <= now:
        raise Conflict("routing.offer_expired")
    record(session, actor.tenant_id, conversation.id, "accepted", queue_id=item.queue_id, user_id=actor.user_id, at=now, waited_seconds=round((now - item.enqueued_at).total_seconds(), 3))
    _assign(session, item, conversation, actor.user_id, now)  # type: ignore[arg-type]
    return conversation


def decline_offer(session: Session, actor: Actor, conversation_id: int, reason: str | None = None, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    conversation, item = _my_offer(session, actor, conversation_id)
    record(session, actor.tenant_id, conversation.id, "declined", queue_id=item.queue_id, user_id=actor.user_id, at=now, reason=(reason or "")[:200])
    item.declined = {**(item.declined or {}), str(actor.user_id): now.isoformat()}
    item.status, item.offered_user_id, item.offer_expires_at, item.updated_at = WAITING, None, None, now
    emit(session, actor.tenant_id, "routing.offer_withdrawn", {"conversation_id": conversation.id, "reason": "declined"}, conversation_id=conversation.id, user_id=actor.user_id)
    request_routing(session, actor.tenant_id, "declined")


def my_offers(session: Session, actor: Actor) -> list[QueueItem]:
    return list(session.scalars(
        select(QueueItem).where(QueueItem.tenant_id == actor.tenant_id, QueueItem.status == OFFERED, QueueItem.offered_user_id == actor.user_id).order_by(QueueItem.offer_expires_at)
    ))


# --- transfer ------------------------------------------------------------------------------------


def transfer(
    session: Session, actor: Actor, conversation_id: int, *, user_id: int | None = None, team_id: int | None = None, queue_id: int | None = None, note: str | None = None,
    files: Any = None, max_attachment_bytes: int = 0,
) -> Conversation:
    """Hand a conversation to an agent, a team or a queue, with an optional internal note."""
    actor.require(Permission.WORK)
    if sum(target is not None for target in (user_id, team_id, queue_id)) != 1:
        raise InvalidInput("routing.transfer_one_target", field="user_id")
    now = datetime.now(UTC)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id, lock=True)
    if conversation.assignee_id not in (None, actor.user_id) and not can(actor.role, Permission.ASSIGN_OTHERS):
        raise Forbidden("routing.transfer_forbidden")
    previous = conversation.assignee_id
    item = _item_for(session, conversation.id)
    target: dict[str, Any]
    if user_id is not None:
        user = get_owned(session, User, actor.tenant_id, user_id)
        if not user.active:
            raise InvalidInput("routing.transfer_user_inactive", field="user_id")
        conversation.assignee_id = user_id
        if item is not None and item.status in (*ACTIVE, ASSIGNED):
            item.status, item.assigned_user_id, item.offered_user_id, item.offer_expires_at, item.updated_at = ASSIGNED, user_id, None, None, now
        target = {"user_id": user_id}
    elif team_id is not None:
        get_owned(session, Team, actor.tenant_id, team_id)
        conversation.team_id, conversation.assignee_id = team_id, None
        target = {"team_id": team_id}
    else:
        queue = get_owned(session, RoutingQueue, actor.tenant_id, queue_id)  # type: ignore[arg-type]
        if not queue.active:
            raise InvalidInput("routing.queue_inactive", field="queue_id")
        conversation.assignee_id = None
        base = item if item is not None else None
        _place(session, conversation, queue, priority=base.priority if base else 0, skills=base.required_skills if base else {}, rule_id=base.rule_id if base else None, now=now)
        target = {"queue_id": queue.id}
    if conversation.status != ConversationStatus.OPEN.value and (team_id is not None or queue_id is not None):
        conversation.status = ConversationStatus.OPEN.value
    conversation.updated_at = now
    record(
        session, actor.tenant_id, conversation.id, "transferred", queue_id=target.get("queue_id", item.queue_id if item else None), user_id=actor.user_id, at=now,
        from_user_id=previous, **{f"to_{key}": value for key, value in target.items()},
    )
    data = {"from": previous, **target, "note": bool(note)}
    add_timeline(session, actor.tenant_id, conversation.contact_id, TimelineKind.TRANSFERRED, conversation_id=conversation.id, actor_type=actor.actor_type, actor_id=actor.user_id, data=data)
    audit(session, actor, "conversation.transferred", "conversation", conversation.id, data)
    if note and note.strip():
        add_note(session, files, actor, conversation.id, text=note, max_attachment_bytes=max_attachment_bytes)
    session.flush()
    if team_id is not None:
        after_inbound(session, conversation, now)  # the team's conversation follows the routing rules again
    if previous is not None or queue_id is not None:
        request_routing(session, actor.tenant_id, "transferred")
    emit_conversation(session, conversation, "conversation.updated", previous_user_id=previous)
    return conversation


# --- the routing pass ----------------------------------------------------------------------------


@dataclass
class PassResult:
    tenant_id: int
    skipped: bool = False
    offered: int = 0
    assigned: int = 0
    expired: int = 0
    overflowed: int = 0
    waiting: int = 0
    next_run_at: datetime | None = None
    decisions: list[tuple[int, int]] = field(default_factory=list)  # (conversation id, user id)


def policy_of(queue: RoutingQueue) -> QueuePolicy:
    return QueuePolicy(
        id=queue.id, strategy=queue.strategy, ageing_per_minute=queue.ageing_per_minute, ageing_cap=queue.ageing_cap,
        relax=tuple(RelaxStep(float(step["after_seconds"]), step.get("drop_levels")) for step in queue.relax or []),
        preferred_agent_seconds=float(queue.preferred_agent_seconds), decline_cooldown_seconds=float(queue.decline_cooldown_seconds),
    )


def default_capacity() -> tuple[dict[str, int], frozenset[str]]:
    capacity: dict[str, int] = {}
    exclusive = set()
    for kind in channel_kinds():
        channel = get_channel(kind)
        assert channel is not None
        capacity[kind] = channel.capabilities.default_capacity
        if channel.capabilities.exclusive:
            exclusive.add(kind)
    return capacity, frozenset(exclusive)


def agent_loads(session: Session, tenant_id: int, user_id: int | None = None) -> dict[int, dict[str, int]]:
    """Agents' current load by channel: open and pending conversations assigned to them plus offers awaiting an answer."""
    assigned = select(Conversation.assignee_id, Conversation.last_channel, func.count()).where(
        Conversation.tenant_id == tenant_id, Conversation.assignee_id.is_not(None), Conversation.status.in_(LOADING_STATUSES))
    offered = select(QueueItem.offered_user_id, QueueItem.channel, func.count()).where(QueueItem.tenant_id == tenant_id, QueueItem.status == OFFERED)
    if user_id is not None:
        assigned = assigned.where(Conversation.assignee_id == user_id)
        offered = offered.where(QueueItem.offered_user_id == user_id)
    load: dict[int, dict[str, int]] = {}
    for agent_id, channel, count in session.execute(assigned.group_by(Conversation.assignee_id, Conversation.last_channel)):
        load.setdefault(agent_id, {})[channel or ""] = count
    for agent_id, channel, count in session.execute(offered.group_by(QueueItem.offered_user_id, QueueItem.channel)):
        bucket = load.setdefault(agent_id, {})
        bucket[channel] = bucket.get(channel, 0) + count
    return load


def load_agents(session: Session, tenant_id: int) -> list[AgentState]:
    """Every queue member of the tenant with presence, skills, capacity and current load."""
    members: dict[int, set[int]] = {}
    for queue_id, user_id in session.execute(
        select(QueueMember.queue_id, QueueMember.user_id).join(User, User.id == QueueMember.user_id).where(QueueMember.tenant_id == tenant_id, User.active.is_(True))
    ):
        members.setdefault(user_id, set()).add(queue_id)
    if not members:
        return []
    online = set(session.scalars(select(AgentPresence.user_id).where(AgentPresence.tenant_id == tenant_id, AgentPresence.status == "online")))
    skills: dict[int, dict[str, int]] = {}
    for user_id, name, level in session.execute(
        select(AgentSkill.user_id, Skill.name, AgentSkill.level).join(Skill, Skill.id == AgentSkill.skill_id).where(AgentSkill.tenant_id == tenant_id)
    ):
        skills.setdefault(user_id, {})[name] = level
    profiles = {row.user_id: row for row in session.scalars(select(AgentCapacity).where(AgentCapacity.tenant_id == tenant_id))}
    load = agent_loads(session, tenant_id)
    defaults, default_exclusive = default_capacity()
    agents = []
    for user_id, queues in members.items():
        profile = profiles.get(user_id)
        capacity = {**defaults, **{k: int(v) for k, v in (profile.capacity or {}).items()}} if profile else dict(defaults)
        exclusive = frozenset(profile.exclusive) if profile and profile.exclusive is not None and profile.exclusive != [] else default_exclusive
        idle = _ts(profile.last_routed_at) if profile and profile.last_routed_at else 0.0
        agents.append(AgentState(user_id, user_id in online, frozenset(queues), skills.get(user_id, {}), capacity, exclusive, load.get(user_id, {}), idle))
    return agents


def _to_waiting(item: QueueItem) -> WaitingItem:
    declined = {int(user): _ts(datetime.fromisoformat(at)) for user, at in (item.declined or {}).items()}
    return WaitingItem(item.id, item.queue_id, item.channel, item.priority, dict(item.required_skills or {}), _ts(item.queued_at), declined, item.preferred_user_id)


def claim_tenant(session: Session, tenant_id: int) -> RoutingState | None:
    """The tenant's routing lock (a row lock on PostgreSQL), or None while a pass of another worker holds it."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    session.execute(insert(RoutingState).values(tenant_id=tenant_id).on_conflict_do_nothing(index_elements=[RoutingState.tenant_id]))
    query = select(RoutingState).where(RoutingState.tenant_id == tenant_id).execution_options(populate_existing=True)
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).one_or_none()


def dispatch(rt: Runtime, tenant_id: int, now: datetime | None = None) -> PassResult:
    """One routing pass for the tenant (see the module docstring)."""
    result = PassResult(tenant_id)
    with unit_of_work(rt.sessions) as session:
        state = claim_tenant(session, tenant_id)
        if state is None:
            result.skipped = True
            return result
        request_ids = list(session.scalars(select(RoutingRequest.id).where(RoutingRequest.tenant_id == tenant_id)))
        now = now or datetime.now(UTC)
        items_query = select(QueueItem).where(QueueItem.tenant_id == tenant_id, QueueItem.status.in_(ACTIVE)).order_by(QueueItem.id)
        wake_times: list[datetime] = []
        if _lock(session):
            # Services lock a conversation, then its queue item. The pass writes about the
            # conversations too (event rows' foreign keys, assignments), so it locks in the same
            # order, or a pass and an agent's accept, decline or transfer deadlock. An item that
            # became active in between is left to the next pass (its routing request is pending).
            active = select(QueueItem.conversation_id).where(QueueItem.tenant_id == tenant_id, QueueItem.status.in_(ACTIVE))
            held = set(session.scalars(select(Conversation.id).where(Conversation.id.in_(active)).order_by(Conversation.id).with_for_update(key_share=True)))
            items = [item for item in session.scalars(items_query.with_for_update()) if item.conversation_id in held]
        else:
            items = list(session.scalars(items_query))
        queues = {q.id: q for q in session.scalars(select(RoutingQueue).where(RoutingQueue.tenant_id == tenant_id))}

        for item in items:
            if item.status == OFFERED and item.offer_expires_at is not None and item.offer_expires_at <= now:
                record(session, tenant_id, item.conversation_id, "offer_expired", queue_id=item.queue_id, user_id=item.offered_user_id, at=now)
                emit(session, tenant_id, "routing.offer_withdrawn", {"conversation_id": item.conversation_id, "reason": "expired"}, conversation_id=item.conversation_id, user_id=item.offered_user_id)
                item.declined = {**(item.declined or {}), str(item.offered_user_id): now.isoformat()}
                item.status, item.offered_user_id, item.offer_expires_at, item.updated_at = WAITING, None, None, now
                result.expired += 1
            elif item.status == OFFERED and item.offer_expires_at is not None:
                wake_times.append(item.offer_expires_at)

        open_queues = set()
        for queue in queues.values():
            if queue.active and (not queue.business_hours or parse_business_hours(queue.business_hours).is_open(now)):
                open_queues.add(queue.id)
        for item in items:
            queue = queues.get(item.queue_id)
            if item.status != WAITING or queue is None or not queue.overflow_after_seconds or queue.overflow_queue_id is None:
                continue
            target = queues.get(queue.overflow_queue_id)
            due = item.queued_at + timedelta(seconds=queue.overflow_after_seconds)
            if target is None or not target.active or target.id == queue.id:
                continue
            if due <= now:
                record(session, tenant_id, item.conversation_id, "overflowed", queue_id=target.id, at=now, from_queue_id=queue.id)
                item.queue_id, item.queued_at, item.declined, item.updated_at = target.id, now, {}, now
                result.overflowed += 1
            else:
                wake_times.append(due)

        waiting_rows = {item.id: item for item in items if item.status == WAITING}
        routable = [row for row in waiting_rows.values() if row.queue_id in open_queues]
        result.waiting = len(waiting_rows)
        if any(row.queue_id not in open_queues and queues.get(row.queue_id) is not None and queues[row.queue_id].active for row in waiting_rows.values()):
            wake_times.append(now + CLOSED_QUEUE_RECHECK)
        if routable:
            policies = {q.id: policy_of(q) for q in queues.values()}
            board = RoutingBoard(load_agents(session, tenant_id), policies)
            domain_items = [_to_waiting(row) for row in routable]
            decisions = board.plan(domain_items, _ts(now))
            decided = {waiting.id for waiting, _ in decisions}
            for waiting, agent in decisions:
                _apply(session, waiting_rows[waiting.id], queues[waiting.queue_id], agent.id, now, result)
            for waiting in domain_items:
                if waiting.id in decided:
                    continue
                policy = policies[waiting.queue_id]
                later = [next_relaxation(waiting, policy, _ts(now))]
                if waiting.preferred_agent is not None and policy.preferred_agent_seconds:
                    later.append(waiting.queued_at + policy.preferred_agent_seconds)
                later += [at + policy.decline_cooldown_seconds for at in waiting.declined.values()]
                wake_times += [datetime.fromtimestamp(t, UTC) for t in later if t is not None and t > _ts(now)]
            _mark_routed(session, tenant_id, {agent.id for _, agent in decisions}, now)
        state.next_run_at = min(wake_times) if wake_times else None
        state.last_run_at = now
        result.next_run_at = state.next_run_at
        if request_ids:
            session.execute(delete(RoutingRequest).where(RoutingRequest.id.in_(request_ids)))
        if result.offered or result.assigned or result.expired or result.overflowed:
            emit(session, tenant_id, "queue.changed", {"reason": "routed", "offered": result.offered, "assigned": result.assigned})
    return result


def _apply(session: Session, item: QueueItem, queue: RoutingQueue, user_id: int, now: datetime, result: PassResult) -> None:
    conversation = session.get(Conversation, item.conversation_id)
    assert conversation is not None
    result.decisions.append((item.conversation_id, user_id))
    if queue.offer_timeout_seconds:
        expires = now + timedelta(seconds=queue.offer_timeout_seconds)
        item.status, item.offered_user_id, item.offer_expires_at, item.updated_at = OFFERED, user_id, expires, now
        record(session, item.tenant_id, item.conversation_id, "offered", queue_id=queue.id, user_id=user_id, at=now, expires_at=expires.isoformat())
        emit(
            session, item.tenant_id, "routing.offered",
            {"conversation_id": item.conversation_id, "queue_id": queue.id, "queue": queue.name, "channel": item.channel, "expires_at": expires.isoformat(), "timeout_seconds": queue.offer_timeout_seconds},
            conversation_id=item.conversation_id, user_id=user_id,
        )
        result.offered += 1
    else:
        record(session, item.tenant_id, item.conversation_id, "assigned", queue_id=queue.id, user_id=user_id, at=now, waited_seconds=round((now - item.enqueued_at).total_seconds(), 3))
        _assign(session, item, conversation, user_id, now)
        result.assigned += 1


def enqueue(session: Session, conversation: Conversation, queue: RoutingQueue, now: datetime, **event_data: Any) -> QueueItem:
    """Put a conversation (back) into ``queue`` as waiting, keeping the priority, skills and rule
    of its last routing; records ``queued`` with ``event_data`` (e.g. ``reason``). Call it holding
    the tenant's lock (``claim_tenant``)."""
    previous = _item_for(session, conversation.id)
    placed = _place(
        session, conversation, queue, priority=previous.priority if previous else 0, skills=dict(previous.required_skills or {}) if previous else {},
        rule_id=previous.rule_id if previous else None, now=now,
    )
    record(session, conversation.tenant_id, conversation.id, "queued", queue_id=queue.id, at=now, **event_data)
    return placed


def hand_to_agent(session: Session, item: QueueItem, queue: RoutingQueue, user_id: int, now: datetime, reason: str) -> bool:
    """Offer a waiting item to one chosen agent (or assign it, when the queue does not offer) the
    way a routing pass does; True when it was offered. Call it holding the tenant's lock."""
    result = PassResult(item.tenant_id)
    _apply(session, item, queue, user_id, now, result)
    _mark_routed(session, item.tenant_id, {user_id}, now)
    request_routing(session, item.tenant_id, reason)  # the next pass keeps the offer's timeout
    return bool(result.offered)


def _mark_routed(session: Session, tenant_id: int, user_ids: set[int], now: datetime) -> None:
    for user_id in user_ids:
        profile = session.get(AgentCapacity, user_id)
        if profile is None:
            session.add(AgentCapacity(user_id=user_id, tenant_id=tenant_id, capacity={}, exclusive=[], last_routed_at=now))
        else:
            profile.last_routed_at = now


def tenants_due(rt: Runtime, now: datetime | None = None) -> list[int]:
    now = now or datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        requested = set(session.scalars(select(RoutingRequest.tenant_id).distinct()))
        timed = set(session.scalars(select(RoutingState.tenant_id).where(RoutingState.next_run_at.is_not(None), RoutingState.next_run_at <= now)))
    return sorted(requested | timed)


def route_due(rt: Runtime, max_passes: int = 50) -> int:
    """Run a pass for every tenant with requests or a due time; again while new requests arrive."""
    done = 0
    broken: set[int] = set()  # tenants whose pass failed: retried on the next worker pass, not in this loop
    for _ in range(max_passes):
        tenants = [t for t in tenants_due(rt) if t not in broken]
        if not tenants:
            break
        progressed = False
        for tenant_id in tenants:
            try:
                result = dispatch(rt, tenant_id)
            except Exception:  # one tenant's failing pass must not stop routing for the others
                log.exception("routing pass for tenant %s failed", tenant_id)
                broken.add(tenant_id)
                continue
            if not result.skipped:
                done += 1
                progressed = True
        if not progressed:  # every due tenant is being routed by another process
            break
    return done
