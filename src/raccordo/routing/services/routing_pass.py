"""The routing pass: for one tenant at a time, under the tenant's routing lock, expire offers,
overflow, load the agents (presence, skills, capacity, load) and let the pure ``RoutingBoard`` plan
offers and assignments; then apply them and schedule the next time-based change. The worker runs
``route_due``; queueing is in ``routing.py``, answers to offers in ``offers.py``, transfers in
``transfers.py``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from raccordo.accounts.models import User
from raccordo.channels.base import channel_kinds, get_channel
from raccordo.platform.events import emit
from raccordo.platform.hours import parse_business_hours
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.realtime.models import AgentPresence
from raccordo.record.models import Conversation
from raccordo.routing.domain.board import RoutingBoard
from raccordo.routing.domain.routing import (
    AgentState,
    QueuePolicy,
    RelaxStep,
    WaitingItem,
    next_relaxation,
)
from raccordo.routing.models import (
    AgentCapacity,
    AgentSkill,
    QueueItem,
    QueueMember,
    RoutingQueue,
    RoutingRequest,
    RoutingState,
    Skill,
)
from raccordo.routing.services.routing import (
    ACTIVE,
    CLOSED_QUEUE_RECHECK,
    LOADING_STATUSES,
    OFFERED,
    WAITING,
    _assign,
    _item_for,
    _lock,
    _place,
    _ts,
    record,
    request_routing,
)

log = logging.getLogger(__name__)


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
        id=queue.id,
        strategy=queue.strategy,
        ageing_per_minute=queue.ageing_per_minute,
        ageing_cap=queue.ageing_cap,
        relax=tuple(RelaxStep(float(step["after_seconds"]), step.get("drop_levels")) for step in queue.relax or []),
        preferred_agent_seconds=float(queue.preferred_agent_seconds),
        decline_cooldown_seconds=float(queue.decline_cooldown_seconds),
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
    """Agents' current load by channel: open and pending conversations assigned to them plus offers
    awaiting an answer."""
    assigned = select(Conversation.assignee_id, Conversation.last_channel, func.count()).where(
        Conversation.tenant_id == tenant_id,
        Conversation.assignee_id.is_not(None),
        Conversation.status.in_(LOADING_STATUSES),
    )
    offered = select(QueueItem.offered_user_id, QueueItem.channel, func.count()).where(
        QueueItem.tenant_id == tenant_id, QueueItem.status == OFFERED
    )
    if user_id is not None:
        assigned = assigned.where(Conversation.assignee_id == user_id)
        offered = offered.where(QueueItem.offered_user_id == user_id)
    load: dict[int, dict[str, int]] = {}
    for agent_id, channel, count in session.execute(
        assigned.group_by(Conversation.assignee_id, Conversation.last_channel)
    ):
        if agent_id is not None:  # the query keeps assigned rows; the column itself is nullable
            load.setdefault(agent_id, {})[channel or ""] = count
    for agent_id, channel, count in session.execute(offered.group_by(QueueItem.offered_user_id, QueueItem.channel)):
        if agent_id is not None:  # an offered item names its agent; the column itself is nullable
            bucket = load.setdefault(agent_id, {})
            bucket[channel] = bucket.get(channel, 0) + count
    return load


def load_agents(session: Session, tenant_id: int) -> list[AgentState]:
    """Every queue member of the tenant with presence, skills, capacity and current load."""
    members: dict[int, set[int]] = {}
    for queue_id, user_id in session.execute(
        select(QueueMember.queue_id, QueueMember.user_id)
        .join(User, User.id == QueueMember.user_id)
        .where(QueueMember.tenant_id == tenant_id, User.active.is_(True))
    ):
        members.setdefault(user_id, set()).add(queue_id)
    if not members:
        return []
    online = set(
        session.scalars(
            select(AgentPresence.user_id).where(AgentPresence.tenant_id == tenant_id, AgentPresence.status == "online")
        )
    )
    skills: dict[int, dict[str, int]] = {}
    for user_id, name, level in session.execute(
        select(AgentSkill.user_id, Skill.name, AgentSkill.level)
        .join(Skill, Skill.id == AgentSkill.skill_id)
        .where(AgentSkill.tenant_id == tenant_id)
    ):
        skills.setdefault(user_id, {})[name] = level
    profiles = {
        row.user_id: row for row in session.scalars(select(AgentCapacity).where(AgentCapacity.tenant_id == tenant_id))
    }
    load = agent_loads(session, tenant_id)
    defaults, default_exclusive = default_capacity()
    agents = []
    for user_id, queues in members.items():
        profile = profiles.get(user_id)
        capacity = (
            {**defaults, **{k: int(v) for k, v in (profile.capacity or {}).items()}} if profile else dict(defaults)
        )
        exclusive = (
            frozenset(profile.exclusive)
            if profile and profile.exclusive is not None and profile.exclusive != []
            else default_exclusive
        )
        idle = _ts(profile.last_routed_at) if profile and profile.last_routed_at else 0.0
        agents.append(
            AgentState(
                user_id,
                user_id in online,
                frozenset(queues),
                skills.get(user_id, {}),
                capacity,
                exclusive,
                load.get(user_id, {}),
                idle,
            )
        )
    return agents


def _to_waiting(item: QueueItem) -> WaitingItem:
    declined = {int(user): _ts(datetime.fromisoformat(at)) for user, at in (item.declined or {}).items()}
    return WaitingItem(
        item.id,
        item.queue_id,
        item.channel,
        item.priority,
        dict(item.required_skills or {}),
        _ts(item.queued_at),
        declined,
        item.preferred_user_id,
    )


def claim_tenant(session: Session, tenant_id: int) -> RoutingState | None:
    """The tenant's routing lock (a row lock on PostgreSQL), or None while a pass of another worker holds it."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    session.execute(
        insert(RoutingState).values(tenant_id=tenant_id).on_conflict_do_nothing(index_elements=[RoutingState.tenant_id])
    )
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
        items_query = (
            select(QueueItem)
            .where(QueueItem.tenant_id == tenant_id, QueueItem.status.in_(ACTIVE))
            .order_by(QueueItem.id)
        )
        wake_times: list[datetime] = []
        if _lock(session):
            # Services lock a conversation, then its queue item. The pass writes about the
            # conversations too (event rows' foreign keys, assignments), so it locks in the same
            # order, or a pass and an agent's accept, decline or transfer deadlock. An item that
            # became active in between is left to the next pass (its routing request is pending).
            active = select(QueueItem.conversation_id).where(
                QueueItem.tenant_id == tenant_id, QueueItem.status.in_(ACTIVE)
            )
            held = set(
                session.scalars(
                    select(Conversation.id)
                    .where(Conversation.id.in_(active))
                    .order_by(Conversation.id)
                    .with_for_update(key_share=True)
                )
            )
            items = [item for item in session.scalars(items_query.with_for_update()) if item.conversation_id in held]
        else:
            items = list(session.scalars(items_query))
        queues = {q.id: q for q in session.scalars(select(RoutingQueue).where(RoutingQueue.tenant_id == tenant_id))}

        for item in items:
            if item.status == OFFERED and item.offer_expires_at is not None and item.offer_expires_at <= now:
                record(
                    session,
                    tenant_id,
                    item.conversation_id,
                    "offer_expired",
                    queue_id=item.queue_id,
                    user_id=item.offered_user_id,
                    at=now,
                )
                emit(
                    session,
                    tenant_id,
                    "routing.offer_withdrawn",
                    {"conversation_id": item.conversation_id, "reason": "expired"},
                    conversation_id=item.conversation_id,
                    user_id=item.offered_user_id,
                )
                item.declined = {**(item.declined or {}), str(item.offered_user_id): now.isoformat()}
                item.status, item.offered_user_id, item.offer_expires_at, item.updated_at = WAITING, None, None, now
                result.expired += 1
            elif item.status == OFFERED and item.offer_expires_at is not None:
                wake_times.append(item.offer_expires_at)

        open_queues = set()
        for candidate in queues.values():
            if candidate.active and (
                not candidate.business_hours or parse_business_hours(candidate.business_hours).is_open(now)
            ):
                open_queues.add(candidate.id)
        for item in items:
            queue = queues.get(item.queue_id)
            if (
                item.status != WAITING
                or queue is None
                or not queue.overflow_after_seconds
                or queue.overflow_queue_id is None
            ):
                continue
            target = queues.get(queue.overflow_queue_id)
            due = item.queued_at + timedelta(seconds=queue.overflow_after_seconds)
            if target is None or not target.active or target.id == queue.id:
                continue
            if due <= now:
                record(
                    session,
                    tenant_id,
                    item.conversation_id,
                    "overflowed",
                    queue_id=target.id,
                    at=now,
                    from_queue_id=queue.id,
                )
                item.queue_id, item.queued_at, item.declined, item.updated_at = target.id, now, {}, now
                result.overflowed += 1
            else:
                wake_times.append(due)

        waiting_rows = {item.id: item for item in items if item.status == WAITING}
        routable = [row for row in waiting_rows.values() if row.queue_id in open_queues]
        result.waiting = len(waiting_rows)
        if any(
            row.queue_id not in open_queues and queues.get(row.queue_id) is not None and queues[row.queue_id].active
            for row in waiting_rows.values()
        ):
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
            emit(
                session,
                tenant_id,
                "queue.changed",
                {"reason": "routed", "offered": result.offered, "assigned": result.assigned},
            )
    return result


def _apply(
    session: Session, item: QueueItem, queue: RoutingQueue, user_id: int, now: datetime, result: PassResult
) -> None:
    conversation = session.get(Conversation, item.conversation_id)
    assert conversation is not None
    result.decisions.append((item.conversation_id, user_id))
    if queue.offer_timeout_seconds:
        expires = now + timedelta(seconds=queue.offer_timeout_seconds)
        item.status, item.offered_user_id, item.offer_expires_at, item.updated_at = OFFERED, user_id, expires, now
        record(
            session,
            item.tenant_id,
            item.conversation_id,
            "offered",
            queue_id=queue.id,
            user_id=user_id,
            at=now,
            expires_at=expires.isoformat(),
        )
        emit(
            session,
            item.tenant_id,
            "routing.offered",
            {
                "conversation_id": item.conversation_id,
                "queue_id": queue.id,
                "queue": queue.name,
                "channel": item.channel,
                "expires_at": expires.isoformat(),
                "timeout_seconds": queue.offer_timeout_seconds,
            },
            conversation_id=item.conversation_id,
            user_id=user_id,
        )
        result.offered += 1
    else:
        record(
            session,
            item.tenant_id,
            item.conversation_id,
            "assigned",
            queue_id=queue.id,
            user_id=user_id,
            at=now,
            waited_seconds=round((now - item.enqueued_at).total_seconds(), 3),
        )
        _assign(session, item, conversation, user_id, now)
        result.assigned += 1


def enqueue(
    session: Session, conversation: Conversation, queue: RoutingQueue, now: datetime, **event_data: Any
) -> QueueItem:
    """Put a conversation (back) into ``queue`` as waiting, keeping the priority, skills and rule
    of its last routing; records ``queued`` with ``event_data`` (e.g. ``reason``). Call it holding
    the tenant's lock (``claim_tenant``)."""
    previous = _item_for(session, conversation.id)
    placed = _place(
        session,
        conversation,
        queue,
        priority=previous.priority if previous else 0,
        skills=dict(previous.required_skills or {}) if previous else {},
        rule_id=previous.rule_id if previous else None,
        now=now,
    )
    record(session, conversation.tenant_id, conversation.id, "queued", queue_id=queue.id, at=now, **event_data)
    return placed


def hand_to_agent(
    session: Session, item: QueueItem, queue: RoutingQueue, user_id: int, now: datetime, reason: str
) -> bool:
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
            session.add(
                AgentCapacity(user_id=user_id, tenant_id=tenant_id, capacity={}, exclusive=[], last_routed_at=now)
            )
        else:
            profile.last_routed_at = now


def tenants_due(rt: Runtime, now: datetime | None = None) -> list[int]:
    now = now or datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        requested = set(session.scalars(select(RoutingRequest.tenant_id).distinct()))
        timed = set(
            session.scalars(
                select(RoutingState.tenant_id).where(
                    RoutingState.next_run_at.is_not(None), RoutingState.next_run_at <= now
                )
            )
        )
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
