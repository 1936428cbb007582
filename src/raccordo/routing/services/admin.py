"""Routing configuration and the live queue view: skills, queues and their members, agents'
skills and capacity, routing rules. Every change that may allow an assignment asks for a
routing pass (``routing.request_routing``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.models import User
from raccordo.channels.base import channel_kinds
from raccordo.platform.errors import Conflict, InvalidInput
from raccordo.platform.hours import parse_business_hours
from raccordo.platform.store.models import fold_name
from raccordo.realtime.models import AgentPresence
from raccordo.record.services.records import audit, get_owned
from raccordo.routing.domain.routing import RelaxStep, validate_levels, validate_policy
from raccordo.routing.domain.rules import validate_conditions
from raccordo.routing.domain.vocabularies import OutOfHoursAction, RoutingStrategy
from raccordo.routing.models import (
    AgentCapacity,
    AgentSkill,
    QueueItem,
    QueueMember,
    RoutingQueue,
    RoutingRule,
    Skill,
)
from raccordo.routing.services.routing import ACTIVE, OFFERED, WAITING, request_routing
from raccordo.routing.services.routing_pass import load_agents

QUEUE_FIELDS = (
    "name",
    "strategy",
    "offer_timeout_seconds",
    "ageing_per_minute",
    "ageing_cap",
    "relax",
    "decline_cooldown_seconds",
    "preferred_agent_seconds",
    "preferred_agent_hours",
    "overflow_after_seconds",
    "overflow_queue_id",
    "business_hours",
    "out_of_hours_action",
    "out_of_hours_message",
    "requires_wrap_up",
    "active",
)
OUT_OF_HOURS_ACTIONS = tuple(OutOfHoursAction)


# --- skills --------------------------------------------------------------------------------------


def list_skills(session: Session, actor: Actor) -> list[Skill]:
    actor.require(Permission.READ)
    return list(session.scalars(select(Skill).where(Skill.tenant_id == actor.tenant_id).order_by(Skill.name)))


def create_skill(session: Session, actor: Actor, name: str) -> Skill:
    actor.require(Permission.MANAGE_ROUTING)
    clean = name.strip()
    if not clean or len(clean) > 64:
        raise InvalidInput("routing.skill_name_invalid", field="name")
    if session.scalar(select(Skill.id).where(Skill.tenant_id == actor.tenant_id, Skill.name_key == fold_name(clean))):
        raise Conflict("routing.skill_exists", name=clean)
    skill = Skill(tenant_id=actor.tenant_id, name=clean, created_at=datetime.now(UTC))
    session.add(skill)
    session.flush()
    audit(session, actor, "skill.created", "skill", skill.id, {"name": clean})
    return skill


def delete_skill(session: Session, actor: Actor, skill_id: int) -> None:
    actor.require(Permission.MANAGE_ROUTING)
    skill = get_owned(session, Skill, actor.tenant_id, skill_id)
    used = [
        rule.name
        for rule in session.scalars(select(RoutingRule).where(RoutingRule.tenant_id == actor.tenant_id))
        if skill.name in (rule.required_skills or {})
    ]
    if used:
        raise Conflict("routing.skill_in_use", rules=", ".join(used))
    audit(session, actor, "skill.deleted", "skill", skill.id, {"name": skill.name})
    session.delete(skill)


# --- agents --------------------------------------------------------------------------------------


@dataclass
class AgentProfile:
    user_id: int
    skills: dict[str, int]
    capacity: dict[str, int]
    exclusive: list[str]
    queue_ids: list[int]


def agent_profile(session: Session, actor: Actor, user_id: int) -> AgentProfile:
    actor.require(Permission.READ)
    get_owned(session, User, actor.tenant_id, user_id)
    skills = dict(
        session.execute(
            select(Skill.name, AgentSkill.level)
            .join(Skill, Skill.id == AgentSkill.skill_id)
            .where(AgentSkill.user_id == user_id, AgentSkill.tenant_id == actor.tenant_id)
        ).all()
    )
    profile = session.get(AgentCapacity, user_id)
    queue_ids = sorted(
        session.scalars(
            select(QueueMember.queue_id).where(QueueMember.user_id == user_id, QueueMember.tenant_id == actor.tenant_id)
        )
    )
    return AgentProfile(
        user_id,
        skills,
        dict(profile.capacity or {}) if profile else {},
        list(profile.exclusive or []) if profile else [],
        queue_ids,
    )


def set_agent_profile(
    session: Session,
    actor: Actor,
    user_id: int,
    *,
    skills: dict[str, int] | None = None,
    capacity: dict[str, int] | None = None,
    exclusive: list[str] | None = None,
    queue_ids: list[int] | None = None,
) -> AgentProfile:
    """Replace what is given: skills by name with levels 1-5, capacity per channel, exclusive channels, queues."""
    actor.require(Permission.MANAGE_ROUTING)
    get_owned(session, User, actor.tenant_id, user_id)
    known_channels = set(channel_kinds())
    if skills is not None:
        validate_levels(skills, "skills")
        by_name = {s.name: s for s in session.scalars(select(Skill).where(Skill.tenant_id == actor.tenant_id))}
        for name in skills:
            if name not in by_name:
                raise InvalidInput("routing.skill_unknown", field=f"skills.{name}", value=name)
        session.execute(
            delete(AgentSkill).where(AgentSkill.user_id == user_id, AgentSkill.tenant_id == actor.tenant_id)
        )
        session.add_all(
            AgentSkill(user_id=user_id, skill_id=by_name[name].id, tenant_id=actor.tenant_id, level=level)
            for name, level in skills.items()
        )
    if capacity is not None or exclusive is not None:
        for channel, value in (capacity or {}).items():
            if channel not in known_channels:
                raise InvalidInput("routing.channel_unknown", field=f"capacity.{channel}", value=channel)
            if not isinstance(value, int) or not 0 <= value <= 100:
                raise InvalidInput("routing.capacity_invalid", field=f"capacity.{channel}", value=str(value))
        for index, channel in enumerate(exclusive or []):
            if channel not in known_channels:
                raise InvalidInput("routing.channel_unknown", field=f"exclusive.{index}", value=channel)
        profile = session.get(AgentCapacity, user_id)
        if profile is None:
            profile = AgentCapacity(user_id=user_id, tenant_id=actor.tenant_id, capacity={}, exclusive=[])
            session.add(profile)
        if capacity is not None:
            profile.capacity = dict(capacity)
        if exclusive is not None:
            profile.exclusive = sorted(set(exclusive))
    if queue_ids is not None:
        for queue_id in queue_ids:
            get_owned(session, RoutingQueue, actor.tenant_id, queue_id)
        session.execute(
            delete(QueueMember).where(QueueMember.user_id == user_id, QueueMember.tenant_id == actor.tenant_id)
        )
        session.add_all(
            QueueMember(queue_id=queue_id, user_id=user_id, tenant_id=actor.tenant_id)
            for queue_id in sorted(set(queue_ids))
        )
    session.flush()
    result = agent_profile(session, actor, user_id)
    audit(
        session,
        actor,
        "agent.routing_changed",
        "user",
        user_id,
        {
            "skills": result.skills,
            "capacity": result.capacity,
            "exclusive": result.exclusive,
            "queue_ids": result.queue_ids,
        },
    )
    request_routing(session, actor.tenant_id, "agent_changed")
    return result


# --- queues --------------------------------------------------------------------------------------


def _check_queue(session: Session, actor: Actor, values: dict[str, Any], queue_id: int | None) -> None:
    relax = values.get("relax") or []
    steps = []
    for index, step in enumerate(relax):
        if not isinstance(step, dict) or "after_seconds" not in step:
            raise InvalidInput("routing.relax_invalid", field=f"relax.{index}")
        steps.append(RelaxStep(float(step["after_seconds"]), step.get("drop_levels")))
    validate_policy(values.get("strategy", RoutingStrategy.LONGEST_IDLE), steps)
    for name in ("offer_timeout_seconds", "overflow_after_seconds"):
        value = values.get(name)
        if value is not None and value < 1:
            raise InvalidInput("routing.seconds_invalid", field=name)
    overflow = values.get("overflow_queue_id")
    if overflow is not None:
        if overflow == queue_id:
            raise InvalidInput("routing.overflow_self", field="overflow_queue_id")
        get_owned(session, RoutingQueue, actor.tenant_id, overflow)
    if values.get("business_hours") is not None:
        values["business_hours"] = parse_business_hours(values["business_hours"]).to_json()
    if values.get("out_of_hours_action", OutOfHoursAction.KEEP) not in OUT_OF_HOURS_ACTIONS:
        raise InvalidInput(
            "routing.out_of_hours_action_unknown",
            field="out_of_hours_action",
            value=str(values.get("out_of_hours_action")),
        )


def list_queues(session: Session, actor: Actor) -> list[RoutingQueue]:
    actor.require(Permission.READ)
    return list(
        session.scalars(
            select(RoutingQueue).where(RoutingQueue.tenant_id == actor.tenant_id).order_by(RoutingQueue.name)
        )
    )


def get_queue(session: Session, actor: Actor, queue_id: int) -> RoutingQueue:
    actor.require(Permission.READ)
    return get_owned(session, RoutingQueue, actor.tenant_id, queue_id)


def members_by_queue(session: Session, tenant_id: int) -> dict[int, list[int]]:
    """Every queue's member ids, in one query (lists show them per row)."""
    members: dict[int, list[int]] = defaultdict(list)
    for queue_id, user_id in session.execute(
        select(QueueMember.queue_id, QueueMember.user_id)
        .where(QueueMember.tenant_id == tenant_id)
        .order_by(QueueMember.user_id)
    ):
        members[queue_id].append(user_id)
    return members


def queue_members(session: Session, tenant_id: int, queue_id: int) -> list[int]:
    return sorted(
        session.scalars(
            select(QueueMember.user_id).where(QueueMember.queue_id == queue_id, QueueMember.tenant_id == tenant_id)
        )
    )


def create_queue(session: Session, actor: Actor, values: dict[str, Any]) -> RoutingQueue:
    actor.require(Permission.MANAGE_ROUTING)
    values = {k: v for k, v in values.items() if k in QUEUE_FIELDS and v is not None}
    if session.scalar(
        select(RoutingQueue.id).where(
            RoutingQueue.tenant_id == actor.tenant_id, RoutingQueue.name == values.get("name")
        )
    ):
        raise Conflict("routing.queue_exists", name=values.get("name"))
    _check_queue(session, actor, values, None)
    queue = RoutingQueue(tenant_id=actor.tenant_id, created_at=datetime.now(UTC), **values)
    session.add(queue)
    session.flush()
    audit(session, actor, "queue.created", "queue", queue.id, {"name": queue.name})
    return queue


def update_queue(session: Session, actor: Actor, queue_id: int, values: dict[str, Any]) -> RoutingQueue:
    actor.require(Permission.MANAGE_ROUTING)
    queue = get_owned(session, RoutingQueue, actor.tenant_id, queue_id, lock=True)
    values = {k: v for k, v in values.items() if k in QUEUE_FIELDS}
    merged = {name: getattr(queue, name) for name in QUEUE_FIELDS} | values
    _check_queue(session, actor, merged, queue.id)
    for name in values:
        setattr(queue, name, merged[name])
    session.flush()
    audit(
        session, actor, "queue.updated", "queue", queue.id, {k: v for k, v in values.items() if k != "business_hours"}
    )
    request_routing(session, actor.tenant_id, "queue_changed")
    return queue


def set_queue_members(session: Session, actor: Actor, queue_id: int, user_ids: list[int]) -> list[int]:
    actor.require(Permission.MANAGE_ROUTING)
    get_owned(session, RoutingQueue, actor.tenant_id, queue_id)
    for user_id in user_ids:
        get_owned(session, User, actor.tenant_id, user_id)
    session.execute(
        delete(QueueMember).where(QueueMember.queue_id == queue_id, QueueMember.tenant_id == actor.tenant_id)
    )
    session.add_all(
        QueueMember(queue_id=queue_id, user_id=user_id, tenant_id=actor.tenant_id) for user_id in sorted(set(user_ids))
    )
    session.flush()
    audit(session, actor, "queue.members_changed", "queue", queue_id, {"user_ids": sorted(set(user_ids))})
    request_routing(session, actor.tenant_id, "queue_changed")
    return queue_members(session, actor.tenant_id, queue_id)


def delete_queue(session: Session, actor: Actor, queue_id: int) -> None:
    actor.require(Permission.MANAGE_ROUTING)
    queue = get_owned(session, RoutingQueue, actor.tenant_id, queue_id)
    if session.scalar(
        select(func.count()).select_from(QueueItem).where(QueueItem.queue_id == queue_id, QueueItem.status.in_(ACTIVE))
    ):
        raise Conflict("routing.queue_not_empty", name=queue.name)
    audit(session, actor, "queue.deleted", "queue", queue.id, {"name": queue.name})
    session.delete(queue)


# --- rules ---------------------------------------------------------------------------------------

RULE_FIELDS = ("name", "position", "conditions", "queue_id", "priority", "required_skills", "active")


def _check_rule(session: Session, actor: Actor, values: dict[str, Any]) -> None:
    values["conditions"] = validate_conditions(values.get("conditions", []))
    get_owned(session, RoutingQueue, actor.tenant_id, values["queue_id"])
    skills = values.get("required_skills") or {}
    validate_levels(skills, "required_skills")
    known = set(session.scalars(select(Skill.name).where(Skill.tenant_id == actor.tenant_id)))
    for name in skills:
        if name not in known:
            raise InvalidInput("routing.skill_unknown", field=f"required_skills.{name}", value=name)
    if not isinstance(values.get("priority", 0), int) or not -100 <= values.get("priority", 0) <= 100:
        raise InvalidInput("routing.priority_invalid", field="priority")


def list_rules(session: Session, actor: Actor) -> list[RoutingRule]:
    actor.require(Permission.READ)
    return list(
        session.scalars(
            select(RoutingRule)
            .where(RoutingRule.tenant_id == actor.tenant_id)
            .order_by(RoutingRule.position, RoutingRule.id)
        )
    )


def create_rule(session: Session, actor: Actor, values: dict[str, Any]) -> RoutingRule:
    actor.require(Permission.MANAGE_ROUTING)
    values = {k: v for k, v in values.items() if k in RULE_FIELDS and v is not None}
    _check_rule(session, actor, values)
    rule = RoutingRule(tenant_id=actor.tenant_id, created_at=datetime.now(UTC), **values)
    session.add(rule)
    session.flush()
    audit(
        session, actor, "routing_rule.created", "routing_rule", rule.id, {"name": rule.name, "queue_id": rule.queue_id}
    )
    return rule


def update_rule(session: Session, actor: Actor, rule_id: int, values: dict[str, Any]) -> RoutingRule:
    actor.require(Permission.MANAGE_ROUTING)
    rule = get_owned(session, RoutingRule, actor.tenant_id, rule_id)
    values = {k: v for k, v in values.items() if k in RULE_FIELDS and v is not None}
    merged = {name: getattr(rule, name) for name in RULE_FIELDS} | values
    _check_rule(session, actor, merged)
    for name in values:
        setattr(rule, name, merged[name])
    session.flush()
    audit(session, actor, "routing_rule.updated", "routing_rule", rule.id, {k: v for k, v in values.items()})
    return rule


def delete_rule(session: Session, actor: Actor, rule_id: int) -> None:
    actor.require(Permission.MANAGE_ROUTING)
    rule = get_owned(session, RoutingRule, actor.tenant_id, rule_id)
    audit(session, actor, "routing_rule.deleted", "routing_rule", rule.id, {"name": rule.name})
    session.delete(rule)


# --- live view ---------------------------------------------------------------------------------


def live(session: Session, actor: Actor, now: datetime | None = None) -> dict[str, Any]:
    """Each queue's waiting and offered items, oldest wait, and its agents by state with their load."""
    actor.require(Permission.VIEW_LIVE)
    now = now or datetime.now(UTC)
    agents = {a.id: a for a in load_agents(session, actor.tenant_id)}
    states = dict(
        session.execute(
            select(AgentPresence.user_id, AgentPresence.status).where(AgentPresence.tenant_id == actor.tenant_id)
        ).all()
    )
    # Every queue's items and members in one query each: the view costs the same for 3 queues or 300.
    items_of: dict[int, list[QueueItem]] = defaultdict(list)
    for item in session.scalars(
        select(QueueItem).where(QueueItem.tenant_id == actor.tenant_id, QueueItem.status.in_(ACTIVE))
    ):
        items_of[item.queue_id].append(item)
    members_of = members_by_queue(session, actor.tenant_id)
    queues = []
    for queue in list_queues(session, actor):
        items = items_of.get(queue.id, [])
        waiting = [i for i in items if i.status == WAITING]
        members = members_of.get(queue.id, [])
        by_state: dict[str, int] = {"online": 0, "away": 0, "offline": 0}
        member_rows = []
        for user_id in members:
            state = states.get(user_id, "offline")
            by_state[state] = by_state.get(state, 0) + 1
            agent = agents.get(user_id)
            member_rows.append(
                {
                    "user_id": user_id,
                    "status": state,
                    "load": dict(agent.load) if agent else {},
                    "capacity": dict(agent.capacity) if agent else {},
                }
            )
        queues.append(
            {
                "id": queue.id,
                "name": queue.name,
                "active": queue.active,
                "open": not queue.business_hours or parse_business_hours(queue.business_hours).is_open(now),
                "waiting": len(waiting),
                "offered": sum(1 for i in items if i.status == OFFERED),
                "oldest_wait_seconds": round(
                    max(((now - i.enqueued_at).total_seconds() for i in waiting), default=0.0), 1
                ),
                "agents": by_state,
                "members": member_rows,
            }
        )
    return {"at": now.isoformat(), "queues": queues}
