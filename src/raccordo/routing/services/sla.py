"""SLA clocks: first response, next response and resolution targets, counted in business hours.

- When a customer message opens (or reopens) a conversation, the first active policy whose
  conditions hold (priority, channel, inbox, queue, contact attributes, ...) starts its
  first-response and resolution clocks; a customer message after an agent's reply starts
  a next-response clock.
- An agent's reply meets the first- and next-response clocks; resolving meets the
  resolution clock and cancels the others.
- Waiting on the customer (status pending or snoozed) pauses the running clocks; the
  customer's next message or reopening resumes them with the business time they had left.
- Each running clock has two durable timers (``services.jobs``): a warning before the
  breach and the breach itself. Their handlers re-check the clock under a lock, so a timer
  that fires late or after the clock stopped does nothing. A breach records a routing event
  ``sla_breached``, emits ``sla.breached`` (supervisors see it live) and runs the policy's
  actions: raise the priority, re-queue the conversation (``reassign``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.platform import config_cache, jobs
from raccordo.platform.domain_events import record as record_event
from raccordo.platform.errors import InvalidInput
from raccordo.platform.events import emit, emit_conversation
from raccordo.platform.hours import BusinessHours, add_business_seconds, business_seconds_between, parse_business_hours
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.models import Conversation
from raccordo.record.services.records import audit, get_owned
from raccordo.routing.domain.events import SlaBreached
from raccordo.routing.domain.rules import rule_matches, validate_conditions
from raccordo.routing.models import SlaClock, SlaPolicy
from raccordo.routing.services import routing

FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION = "first_response", "next_response", "resolution"
RUNNING, PAUSED, MET, BREACHED, CANCELLED = "running", "paused", "met", "breached", "cancelled"
WARN, BREACH = "sla.warn", "sla.breach"
PRIORITY_STEPS = ("none", "low", "medium", "high", "urgent")
ACTIONS = ("raise_priority", "notify_supervisors", "reassign")
WAITING_ON_CUSTOMER = (ConversationStatus.PENDING.value, ConversationStatus.SNOOZED.value)


def _hours(policy: SlaPolicy | None) -> BusinessHours | None:
    return parse_business_hours(policy.business_hours) if policy is not None and policy.business_hours else None


def _clocks(session: Session, conversation_id: int, statuses: tuple[str, ...]) -> list[SlaClock]:
    return list(
        session.scalars(
            select(SlaClock)
            .where(SlaClock.conversation_id == conversation_id, SlaClock.status.in_(statuses))
            .order_by(SlaClock.id)
            .with_for_update()
        )
    )


def _active_policies(session: Session, tenant_id: int) -> list[SlaPolicy]:
    return list(
        session.scalars(
            select(SlaPolicy)
            .where(SlaPolicy.tenant_id == tenant_id, SlaPolicy.active.is_(True))
            .order_by(SlaPolicy.position, SlaPolicy.id)
        )
    )


def policy_for(session: Session, conversation: Conversation) -> SlaPolicy | None:
    """The first active policy whose conditions hold; the policies come from the per-process
    configuration cache (read-only detached rows: ``platform.config_cache``)."""
    tenant_id = conversation.tenant_id
    policies = config_cache.cached(session, tenant_id, "sla.active_policies", lambda s: _active_policies(s, tenant_id))
    if not policies:  # a tenant without SLA policies: no facts to gather
        return None
    facts = routing.conversation_facts(session, conversation)
    return next((p for p in policies if rule_matches(p.conditions or [], facts)), None)


# --- timers --------------------------------------------------------------------------------------


def _key(clock: SlaClock, kind: str) -> str:
    return f"{kind}:{clock.id}"


def _schedule(session: Session, clock: SlaClock, policy: SlaPolicy | None) -> None:
    if clock.due_at is None:
        return
    jobs.schedule(
        session, BREACH, clock.due_at, {"clock_id": clock.id}, tenant_id=clock.tenant_id, dedupe_key=_key(clock, BREACH)
    )
    warn = policy.warn_before_seconds if policy else 0
    if warn and clock.warned_at is None and clock.target_seconds > warn:
        left = clock.target_seconds - clock.elapsed_seconds - warn
        warn_at = add_business_seconds(_hours(policy), clock.resumed_at, max(0.0, left))
        if warn_at is not None:
            jobs.schedule(
                session, WARN, warn_at, {"clock_id": clock.id}, tenant_id=clock.tenant_id, dedupe_key=_key(clock, WARN)
            )


def _unschedule(session: Session, clock: SlaClock) -> None:
    jobs.cancel(session, _key(clock, BREACH))
    jobs.cancel(session, _key(clock, WARN))


def _start(
    session: Session, conversation: Conversation, policy: SlaPolicy, metric: str, target: int, now: datetime
) -> SlaClock:
    clock = SlaClock(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        policy_id=policy.id,
        metric=metric,
        target_seconds=target,
        status=RUNNING,
        started_at=now,
        resumed_at=now,
        elapsed_seconds=0.0,
        due_at=add_business_seconds(_hours(policy), now, target),
    )
    session.add(clock)
    session.flush()
    _schedule(session, clock, policy)
    return clock


def _stop(session: Session, clock: SlaClock, status: str, now: datetime) -> None:
    if clock.status == RUNNING:
        clock.elapsed_seconds += business_seconds_between(
            _hours(session.get(SlaPolicy, clock.policy_id) if clock.policy_id else None), clock.resumed_at, now
        )
    clock.status, clock.stopped_at = status, now
    _unschedule(session, clock)


# --- what happens to a conversation --------------------------------------------------------------


def after_inbound(session: Session, conversation: Conversation, now: datetime, *, created: bool = False) -> None:
    """A customer message: start clocks for a new or reopened conversation, resume paused
    ones, or start a next-response clock after an agent's reply (``created``: the conversation
    was created in this transaction and has no clock yet)."""
    if conversation.status != ConversationStatus.OPEN.value:
        return
    active = [] if created else _clocks(session, conversation.id, (RUNNING, PAUSED))
    _resume(session, [clock for clock in active if clock.status == PAUSED], now)
    policy = policy_for(session, conversation)
    if policy is None:
        return
    metrics = {clock.metric for clock in active}
    if RESOLUTION not in metrics:  # a new or reopened conversation
        if conversation.first_response_at is None and policy.first_response_seconds and FIRST_RESPONSE not in metrics:
            _start(session, conversation, policy, FIRST_RESPONSE, policy.first_response_seconds, now)
        if policy.resolution_seconds:
            _start(session, conversation, policy, RESOLUTION, policy.resolution_seconds, now)
    if (
        conversation.first_response_at is not None
        and policy.next_response_seconds
        and not metrics & {FIRST_RESPONSE, NEXT_RESPONSE}
    ):
        _start(session, conversation, policy, NEXT_RESPONSE, policy.next_response_seconds, now)


def after_reply(session: Session, conversation: Conversation, now: datetime) -> None:
    """An agent answered the customer: the first- and next-response clocks are met (or stay breached)."""
    for clock in _clocks(session, conversation.id, (RUNNING, PAUSED, BREACHED)):
        if clock.metric in (FIRST_RESPONSE, NEXT_RESPONSE):
            if clock.status == BREACHED:
                clock.stopped_at = clock.stopped_at or now  # answered late: stays breached, with when
            else:
                _stop(session, clock, MET, now)


def after_status_change(session: Session, conversation: Conversation, previous: str, now: datetime) -> None:
    status = conversation.status
    if status in (ConversationStatus.RESOLVED.value, ConversationStatus.CLOSED.value):
        for clock in _clocks(session, conversation.id, (RUNNING, PAUSED)):
            _stop(session, clock, MET if clock.metric == RESOLUTION else CANCELLED, now)
    elif status in WAITING_ON_CUSTOMER:
        pause(session, conversation, now)
    elif status == ConversationStatus.OPEN.value and previous in WAITING_ON_CUSTOMER:
        resume(session, conversation, now)


def pause(session: Session, conversation: Conversation, now: datetime) -> None:
    for clock in _clocks(session, conversation.id, (RUNNING,)):
        policy = session.get(SlaPolicy, clock.policy_id) if clock.policy_id else None
        clock.elapsed_seconds += business_seconds_between(_hours(policy), clock.resumed_at, now)
        clock.status, clock.due_at = PAUSED, None
        _unschedule(session, clock)


def resume(session: Session, conversation: Conversation, now: datetime) -> None:
    _resume(session, _clocks(session, conversation.id, (PAUSED,)), now)


def _resume(session: Session, paused: list[SlaClock], now: datetime) -> None:
    for clock in paused:
        policy = session.get(SlaPolicy, clock.policy_id) if clock.policy_id else None
        clock.status, clock.resumed_at = RUNNING, now
        clock.due_at = add_business_seconds(_hours(policy), now, max(0.0, clock.target_seconds - clock.elapsed_seconds))
        _schedule(session, clock, policy)


# --- timer handlers ------------------------------------------------------------------------------


def _locked_clock(ctx: jobs.JobContext) -> SlaClock | None:
    return ctx.session.scalars(
        select(SlaClock)
        .where(SlaClock.id == ctx.payload.get("clock_id"), SlaClock.tenant_id == ctx.tenant_id)
        .with_for_update()
    ).one_or_none()


def _payload(clock: SlaClock, conversation: Conversation, **extra: Any) -> dict[str, Any]:
    return {
        "clock_id": clock.id,
        "conversation_id": conversation.id,
        "metric": clock.metric,
        "due_at": clock.due_at.isoformat() if clock.due_at else None,
        "assignee_id": conversation.assignee_id,
        **extra,
    }


@jobs.job_handler(WARN)
def warn(ctx: jobs.JobContext) -> dict[str, Any]:
    clock = _locked_clock(ctx)
    if clock is None or clock.status != RUNNING or clock.warned_at is not None:
        return {"warned": False}
    conversation = ctx.session.get(Conversation, clock.conversation_id)
    assert conversation is not None
    clock.warned_at = ctx.now
    # Addressed to the assignee (and seen by supervisors): "answer soon".
    emit(
        ctx.session,
        clock.tenant_id,
        "sla.warning",
        _payload(clock, conversation),
        conversation_id=conversation.id,
        user_id=conversation.assignee_id,
    )
    return {"warned": True}


@jobs.job_handler(BREACH)
def breach(ctx: jobs.JobContext) -> dict[str, Any]:
    session = ctx.session
    clock = _locked_clock(ctx)
    if clock is None or clock.status != RUNNING or clock.due_at is None:
        return {"breached": False}
    if clock.due_at > ctx.now:  # moved later meanwhile (resumed after a pause): wait
        ctx.run_again_at(clock.due_at)
        return {"breached": False, "reason": "not due yet"}
    conversation = session.scalars(
        select(Conversation).where(Conversation.id == clock.conversation_id).with_for_update()
    ).one()
    policy = session.get(SlaPolicy, clock.policy_id) if clock.policy_id else None
    actions = dict(policy.actions or {}) if policy else {}
    clock.status, clock.breached_at = BREACHED, ctx.now
    done = []
    if actions.get("raise_priority") and conversation.priority != PRIORITY_STEPS[-1]:
        current = PRIORITY_STEPS.index(conversation.priority) if conversation.priority in PRIORITY_STEPS else 0
        conversation.priority = PRIORITY_STEPS[min(len(PRIORITY_STEPS) - 1, current + 1)]
        done.append("raise_priority")
    # Routing owns the queue: it takes the conversation from its agent and queues it again.
    if (
        actions.get("reassign")
        and clock.metric != RESOLUTION
        and routing.requeue(session, conversation, reason="sla_breached", now=ctx.now)
    ):
        done.append("reassign")
    routing.record(
        session,
        clock.tenant_id,
        conversation.id,
        "sla_breached",
        user_id=conversation.assignee_id,
        at=ctx.now,
        metric=clock.metric,
        actions=done,
    )
    session.flush()
    # Supervisors see every event; with notify_supervisors the event is not addressed to the agent alone.
    target_user = None if actions.get("notify_supervisors") else conversation.assignee_id
    emit(
        session,
        clock.tenant_id,
        "sla.breached",
        _payload(clock, conversation, actions=done),
        conversation_id=conversation.id,
        user_id=target_user,
    )
    if done:
        emit_conversation(session, conversation, "conversation.updated")
    record_event(session, SlaBreached(clock.tenant_id, conversation.id, clock.id, clock.metric, tuple(done), ctx.now))
    return {"breached": True, "actions": done}


# --- policies ------------------------------------------------------------------------------------

POLICY_FIELDS = (
    "name",
    "position",
    "conditions",
    "first_response_seconds",
    "next_response_seconds",
    "resolution_seconds",
    "warn_before_seconds",
    "business_hours",
    "actions",
    "active",
)


def _check_policy(values: dict[str, Any]) -> None:
    values["conditions"] = validate_conditions(values.get("conditions") or [])
    if values.get("business_hours") is not None:
        values["business_hours"] = parse_business_hours(values["business_hours"]).to_json()
    for name, value in (values.get("actions") or {}).items():
        if name not in ACTIONS or not isinstance(value, bool):
            raise InvalidInput("sla.action_unknown", field=f"actions.{name}", value=name)
    if not any(values.get(name) for name in ("first_response_seconds", "next_response_seconds", "resolution_seconds")):
        raise InvalidInput("sla.no_target", field="first_response_seconds")


def list_policies(session: Session, actor: Actor) -> list[SlaPolicy]:
    actor.require(Permission.READ)
    return list(
        session.scalars(
            select(SlaPolicy).where(SlaPolicy.tenant_id == actor.tenant_id).order_by(SlaPolicy.position, SlaPolicy.id)
        )
    )


def create_policy(session: Session, actor: Actor, values: dict[str, Any]) -> SlaPolicy:
    actor.require(Permission.MANAGE_ROUTING)
    values = {k: v for k, v in values.items() if k in POLICY_FIELDS and v is not None}
    _check_policy(values)
    policy = SlaPolicy(tenant_id=actor.tenant_id, created_at=datetime.now(UTC), **values)
    session.add(policy)
    session.flush()
    audit(session, actor, "sla_policy.created", "sla_policy", policy.id, {"name": policy.name})
    return policy


def update_policy(session: Session, actor: Actor, policy_id: int, values: dict[str, Any]) -> SlaPolicy:
    """Changes apply to clocks started from now on; running clocks keep the targets they started with."""
    actor.require(Permission.MANAGE_ROUTING)
    policy = get_owned(session, SlaPolicy, actor.tenant_id, policy_id)
    merged = {name: getattr(policy, name) for name in POLICY_FIELDS} | values
    _check_policy(merged)
    for name in values:
        setattr(policy, name, merged[name])
    session.flush()
    audit(
        session,
        actor,
        "sla_policy.updated",
        "sla_policy",
        policy.id,
        {k: v for k, v in values.items() if k != "business_hours"},
    )
    return policy


def delete_policy(session: Session, actor: Actor, policy_id: int) -> None:
    actor.require(Permission.MANAGE_ROUTING)
    policy = get_owned(session, SlaPolicy, actor.tenant_id, policy_id)
    audit(session, actor, "sla_policy.deleted", "sla_policy", policy.id, {"name": policy.name})
    session.delete(policy)
