"""The routing admin use cases as the pages call them: each opens, commits or rolls back its own
unit of work, and the read models return plain data (no row outlives its session) in a fixed
number of queries, however many queues, agents or rules a tenant has."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.models import User
from raccordo.accounts.services import accounts
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain
from raccordo.record.services.records import get_owned
from raccordo.routing.models import AgentCapacity, AgentSkill, QueueMember, RoutingQueue, RoutingRule, Skill, SlaPolicy
from raccordo.routing.services import admin, sla

Sessions = sessionmaker[Session]
Data = dict[str, Any]


def _active_users(session: Session, actor: Actor) -> list[Any]:
    return [plain(u) for u in accounts.list_users(session, actor) if u.active]


def _skills(session: Session, actor: Actor) -> list[Any]:
    return [plain(s) for s in admin.list_skills(session, actor)]


def _queues(session: Session, actor: Actor) -> list[Any]:
    return [plain(q) for q in admin.list_queues(session, actor)]


def _edited(session: Session, actor: Actor, model: Any, row_id: int, fields: tuple[str, ...]) -> Data:
    """The row an edit page shows (``row``) and its stored values of ``fields``, which the form
    starts from (``stored``); 404 for a row of another tenant."""
    row = get_owned(session, model, actor.tenant_id, row_id)
    return {"row": plain(row), "stored": {name: getattr(row, name) for name in fields}}


# --- skills ----------------------------------------------------------------------------------------


def skills_view(sessions: Sessions, actor: Actor) -> Data:
    with unit_of_work(sessions) as session:
        return {"skills": _skills(session, actor)}


def list_skills(sessions: Sessions, actor: Actor) -> list[Any]:
    with unit_of_work(sessions) as session:
        return _skills(session, actor)


def create_skill(sessions: Sessions, actor: Actor, name: str) -> Any:
    """The new skill, as stored."""
    with unit_of_work(sessions) as session:
        return plain(admin.create_skill(session, actor, name))


def delete_skill(sessions: Sessions, actor: Actor, skill_id: int) -> None:
    with unit_of_work(sessions) as session:
        admin.delete_skill(session, actor, skill_id)


# --- queues ----------------------------------------------------------------------------------------


def queues_view(sessions: Sessions, actor: Actor, queue_id: int | None = None) -> Data:
    """The queues with their member counts (one grouped query), the users, and the edited queue."""
    with unit_of_work(sessions) as session:
        queues = _queues(session, actor)
        counts = Counter(session.scalars(select(QueueMember.queue_id).where(QueueMember.tenant_id == actor.tenant_id)))
        data: Data = {
            "queues": queues,
            "users": _active_users(session, actor),
            "member_counts": {q.id: counts.get(q.id, 0) for q in queues},
        }
        if queue_id is not None:
            data |= _edited(session, actor, RoutingQueue, queue_id, admin.QUEUE_FIELDS)
            data["stored"]["members"] = admin.queue_members(session, actor.tenant_id, queue_id)
        return data


def save_queue(sessions: Sessions, actor: Actor, queue_id: int | None, values: Data, members: list[int]) -> int:
    with unit_of_work(sessions) as session:
        queue = (
            admin.create_queue(session, actor, values)
            if queue_id is None
            else admin.update_queue(session, actor, queue_id, values)
        )
        admin.set_queue_members(session, actor, queue.id, members)
        return queue.id


def list_queues(sessions: Sessions, actor: Actor) -> list[tuple[Any, list[int]]]:
    """Each queue with its member ids (one query for all members)."""
    with unit_of_work(sessions) as session:
        members = admin.members_by_queue(session, actor.tenant_id)
        return [(q, members.get(q.id, [])) for q in _queues(session, actor)]


def get_queue(sessions: Sessions, actor: Actor, queue_id: int) -> tuple[Any, list[int]]:
    with unit_of_work(sessions) as session:
        return plain(admin.get_queue(session, actor, queue_id)), admin.queue_members(session, actor.tenant_id, queue_id)


def create_queue(sessions: Sessions, actor: Actor, values: Data) -> tuple[Any, list[int]]:
    with unit_of_work(sessions) as session:
        queue = admin.create_queue(session, actor, values)
        return plain(queue), admin.queue_members(session, actor.tenant_id, queue.id)


def update_queue(sessions: Sessions, actor: Actor, queue_id: int, values: Data) -> tuple[Any, list[int]]:
    """Change what ``values`` names; the queue as stored, with its members."""
    with unit_of_work(sessions) as session:
        queue = admin.update_queue(session, actor, queue_id, values)
        return plain(queue), admin.queue_members(session, actor.tenant_id, queue.id)


def set_queue_members(sessions: Sessions, actor: Actor, queue_id: int, user_ids: list[int]) -> list[int]:
    with unit_of_work(sessions) as session:
        return admin.set_queue_members(session, actor, queue_id, user_ids)


def delete_queue(sessions: Sessions, actor: Actor, queue_id: int) -> None:
    with unit_of_work(sessions) as session:
        admin.delete_queue(session, actor, queue_id)


# --- agents ----------------------------------------------------------------------------------------


def agents_view(sessions: Sessions, actor: Actor) -> Data:
    """Every active user's routing profile, read in four queries for the whole team."""
    with unit_of_work(sessions) as session:
        users = _active_users(session, actor)
        skills: dict[int, dict[str, int]] = defaultdict(dict)
        for user_id, name, level in session.execute(
            select(AgentSkill.user_id, Skill.name, AgentSkill.level)
            .join(Skill, Skill.id == AgentSkill.skill_id)
            .where(AgentSkill.tenant_id == actor.tenant_id)
        ):
            skills[user_id][name] = level
        capacity = {
            row.user_id: row
            for row in session.scalars(select(AgentCapacity).where(AgentCapacity.tenant_id == actor.tenant_id))
        }
        queue_ids: dict[int, list[int]] = defaultdict(list)
        for user_id, queue_id in session.execute(
            select(QueueMember.user_id, QueueMember.queue_id)
            .where(QueueMember.tenant_id == actor.tenant_id)
            .order_by(QueueMember.queue_id)
        ):
            queue_ids[user_id].append(queue_id)
        profiles = {
            u.id: admin.AgentProfile(
                u.id,
                skills.get(u.id, {}),
                dict(capacity[u.id].capacity or {}) if u.id in capacity else {},
                list(capacity[u.id].exclusive or []) if u.id in capacity else [],
                queue_ids.get(u.id, []),
            )
            for u in users
        }
        queue_names = {q.id: q.name for q in _queues(session, actor)}
        return {"users": users, "profiles": profiles, "queue_names": queue_names}


def agent_view(sessions: Sessions, actor: Actor, user_id: int) -> Data:
    with unit_of_work(sessions) as session:
        agent = get_owned(session, User, actor.tenant_id, user_id)
        profile = admin.agent_profile(session, actor, user_id)
        return {
            "row": plain(agent),
            "skills": _skills(session, actor),
            "queues": _queues(session, actor),
            "stored": {
                "skills": profile.skills,
                "capacity": profile.capacity,
                "exclusive": profile.exclusive,
                "queue_ids": profile.queue_ids,
            },
        }


def agent_profile(sessions: Sessions, actor: Actor, user_id: int) -> admin.AgentProfile:
    with unit_of_work(sessions) as session:
        return admin.agent_profile(session, actor, user_id)


def save_agent_profile(sessions: Sessions, actor: Actor, user_id: int, values: Data) -> admin.AgentProfile:
    """Replace what ``values`` names (skills, capacity, exclusive channels, queues); the profile as stored."""
    with unit_of_work(sessions) as session:
        return admin.set_agent_profile(session, actor, user_id, **values)


# --- routing rules ---------------------------------------------------------------------------------


def rules_view(sessions: Sessions, actor: Actor, rule_id: int | None = None) -> Data:
    with unit_of_work(sessions) as session:
        queues = _queues(session, actor)
        data: Data = {
            "rules": [plain(r) for r in admin.list_rules(session, actor)],
            "queues": queues,
            "queue_names": {q.id: q.name for q in queues},
            "skills": _skills(session, actor),
        }
        if rule_id is not None:
            data |= _edited(session, actor, RoutingRule, rule_id, admin.RULE_FIELDS)
        return data


def list_rules(sessions: Sessions, actor: Actor) -> list[Any]:
    with unit_of_work(sessions) as session:
        return [plain(r) for r in admin.list_rules(session, actor)]


def save_rule(sessions: Sessions, actor: Actor, rule_id: int | None, values: Data) -> Any:
    """Create (no id) or change a rule; the rule as stored."""
    with unit_of_work(sessions) as session:
        return plain(
            admin.create_rule(session, actor, values)
            if rule_id is None
            else admin.update_rule(session, actor, rule_id, values)
        )


def delete_rule(sessions: Sessions, actor: Actor, rule_id: int) -> None:
    with unit_of_work(sessions) as session:
        admin.delete_rule(session, actor, rule_id)


# --- SLA policies ----------------------------------------------------------------------------------


def sla_view(sessions: Sessions, actor: Actor, policy_id: int | None = None) -> Data:
    with unit_of_work(sessions) as session:
        data: Data = {"policies": [plain(p) for p in sla.list_policies(session, actor)]}
        if policy_id is not None:
            data |= _edited(session, actor, SlaPolicy, policy_id, sla.POLICY_FIELDS)
        return data


def list_sla_policies(sessions: Sessions, actor: Actor) -> list[Any]:
    with unit_of_work(sessions) as session:
        return [plain(p) for p in sla.list_policies(session, actor)]


def save_sla_policy(sessions: Sessions, actor: Actor, policy_id: int | None, values: Data) -> Any:
    """Create (no id) or change a policy; the policy as stored."""
    with unit_of_work(sessions) as session:
        return plain(
            sla.create_policy(session, actor, values)
            if policy_id is None
            else sla.update_policy(session, actor, policy_id, values)
        )


def delete_sla_policy(sessions: Sessions, actor: Actor, policy_id: int) -> None:
    with unit_of_work(sessions) as session:
        sla.delete_policy(session, actor, policy_id)


# --- live queue view -------------------------------------------------------------------------------


def live(sessions: Sessions, actor: Actor) -> Data:
    with unit_of_work(sessions) as session:
        return admin.live(session, actor)


def live_view(sessions: Sessions, actor: Actor) -> Data:
    with unit_of_work(sessions) as session:
        return {
            "live": admin.live(session, actor),
            "names": {u.id: u.name for u in accounts.list_users(session, actor)},
        }
