"""The users, teams, tenant and audit-log use cases as the admin pages and the REST API call them:
each opens, commits or rolls back its own unit of work, and the read models return plain data in
a fixed number of queries (no query per listed row)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.models import Team, TeamMember, Tenant, User
from raccordo.accounts.services import teams as team_rules
from raccordo.accounts.services import tenants as tenant_rules
from raccordo.accounts.services import users as user_rules
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.rows import plain
from raccordo.record.models import AuditEntry
from raccordo.record.services.records import get_owned

Sessions = sessionmaker[Session]
Data = dict[str, Any]


def _teams(session: Session, tenant_id: int) -> list[Team]:
    return list(session.scalars(select(Team).where(Team.tenant_id == tenant_id).order_by(Team.name)))


def _memberships(session: Session, tenant_id: int) -> dict[int, set[int]]:
    """Each user's team ids, in one query."""
    members: dict[int, set[int]] = {}
    rows = session.execute(
        select(TeamMember.team_id, TeamMember.user_id)
        .join(Team, Team.id == TeamMember.team_id)
        .where(Team.tenant_id == tenant_id)
    )
    for team_id, user_id in rows.all():
        members.setdefault(user_id, set()).add(team_id)
    return members


# --- users -----------------------------------------------------------------------------------------


def users_view(sessions: Sessions, actor: Actor, user_id: int | None = None) -> Data:
    """The users, the teams and who is in which; for an id, the user (``row``) and its form values
    (``stored``). Four queries whatever the number of users."""
    with unit_of_work(sessions) as session:
        users = [plain(u) for u in user_rules.list_users(session, actor)]
        teams = [plain(t) for t in _teams(session, actor.tenant_id)]
        memberships = _memberships(session, actor.tenant_id)
        data: Data = {
            "users": users,
            "teams": teams,
            "memberships": memberships,
            "team_names": {t.id: t.name for t in teams},
        }
        if user_id is not None:
            user = get_owned(session, User, actor.tenant_id, user_id)
            data["row"] = plain(user)
            data["stored"] = {
                "name": user.name,
                "email": user.email,
                "role": user.role,
                "language": user.language,
                "active": user.active,
                "team_ids": sorted(memberships.get(user.id, set())),
            }
        return data


def _set_user_teams(session: Session, actor: Actor, user_id: int, team_ids: list[int]) -> None:
    """Add the user to these teams and remove them from the others (the teams' other members stay)."""
    wanted = set(team_ids)
    for team_id in wanted:
        get_owned(session, Team, actor.tenant_id, team_id)
    members_of: dict[int, set[int]] = {}
    for member_user, teams in _memberships(session, actor.tenant_id).items():
        for team_id in teams:
            members_of.setdefault(team_id, set()).add(member_user)
    for team in _teams(session, actor.tenant_id):
        members = members_of.get(team.id, set())
        if (team.id in wanted) != (user_id in members):
            team_rules.set_team_members(session, actor, team.id, sorted(members ^ {user_id}))


def create_user(sessions: Sessions, actor: Actor, values: Data, password: str | None) -> int:
    """A new user in the teams ``values["team_ids"]`` names; its id."""
    with unit_of_work(sessions) as session:
        user = user_rules.create_user(
            session,
            actor,
            email=values["email"],
            name=values["name"],
            role=values["role"],
            password=password,
            language=values["language"],
        )
        _set_user_teams(session, actor, user.id, values["team_ids"])
        return user.id


def update_user(sessions: Sessions, actor: Actor, user_id: int, values: Data, password: str | None) -> None:
    """Change the user as the form says; the role and the active flag only when they change (an
    admin may save the page of a user whose role they could not grant)."""
    with unit_of_work(sessions) as session:
        current = get_owned(session, User, actor.tenant_id, user_id)
        user_rules.update_user(
            session,
            actor,
            user_id,
            name=values["name"],
            role=values["role"] if values["role"] != current.role else None,
            language=values["language"],
            active=values["active"] if values["active"] != current.active else None,
            password=password,
        )
        _set_user_teams(session, actor, user_id, values["team_ids"])


def set_user_active(sessions: Sessions, actor: Actor, user_id: int, active: bool) -> None:
    with unit_of_work(sessions) as session:
        user_rules.update_user(session, actor, user_id, active=active)


# --- teams -----------------------------------------------------------------------------------------


def teams_view(sessions: Sessions, actor: Actor, team_id: int | None = None) -> Data:
    """The teams with their member counts and the active users; for an id, the team (``row``) and
    its form values (``stored``). Three queries whatever the number of teams."""
    with unit_of_work(sessions) as session:
        teams = _teams(session, actor.tenant_id)
        counted = session.execute(
            select(TeamMember.team_id, func.count())
            .join(Team, Team.id == TeamMember.team_id)
            .where(Team.tenant_id == actor.tenant_id)
            .group_by(TeamMember.team_id)
        )
        counts = {t.id: 0 for t in teams} | {team_id_: count for team_id_, count in counted.all()}
        data: Data = {
            "teams": [plain(t) for t in teams],
            "counts": counts,
            "users": [plain(u) for u in user_rules.list_users(session, actor) if u.active],
        }
        if team_id is not None:
            team = get_owned(session, Team, actor.tenant_id, team_id)
            data["row"] = plain(team)
            data["stored"] = {
                "name": team.name,
                "description": team.description or "",
                "member_ids": sorted(m.user_id for m in team.members),
            }
        return data


def save_team(sessions: Sessions, actor: Actor, team_id: int | None, values: Data) -> int:
    """Create the team or change it and its members; its id."""
    with unit_of_work(sessions) as session:
        if team_id is None:
            team = team_rules.create_team(session, actor, values["name"], values["description"], values["member_ids"])
            return team.id
        get_owned(session, Team, actor.tenant_id, team_id)
        team_rules.update_team(session, actor, team_id, name=values["name"], description=values["description"])
        team_rules.set_team_members(session, actor, team_id, values["member_ids"])
        return team_id


def delete_team(sessions: Sessions, actor: Actor, team_id: int) -> None:
    with unit_of_work(sessions) as session:
        team_rules.delete_team(session, actor, team_id)


# --- the REST API's users and teams: plain rows -----------------------------------------------------


def list_users(sessions: Sessions, actor: Actor) -> list[Any]:
    with unit_of_work(sessions) as session:
        return [plain(u) for u in user_rules.list_users(session, actor)]


def get_user(sessions: Sessions, actor: Actor, user_id: int) -> Any:
    actor.require(Permission.READ)
    with unit_of_work(sessions) as session:
        return plain(get_owned(session, User, actor.tenant_id, user_id))


def add_user(sessions: Sessions, actor: Actor, **values: Any) -> Any:
    with unit_of_work(sessions) as session:
        user = user_rules.create_user(session, actor, **values)
        session.flush()
        return plain(user)


def change_user(sessions: Sessions, actor: Actor, user_id: int, **changes: Any) -> Any:
    with unit_of_work(sessions) as session:
        user = user_rules.update_user(session, actor, user_id, **changes)
        session.flush()
        return plain(user)


def _team_rows(session: Session, tenant_id: int, teams: list[Team]) -> list[Any]:
    """Teams with their sorted ``member_ids``: one query for every team's members."""
    members: dict[int, list[int]] = {}
    if teams:
        rows = session.execute(
            select(TeamMember.team_id, TeamMember.user_id).where(TeamMember.team_id.in_([t.id for t in teams]))
        )
        for team_id, user_id in rows.all():
            members.setdefault(team_id, []).append(user_id)
    return [plain(t, member_ids=sorted(members.get(t.id, []))) for t in teams]


def list_teams(sessions: Sessions, actor: Actor) -> list[Any]:
    actor.require(Permission.READ)
    with unit_of_work(sessions) as session:
        teams = list(session.scalars(select(Team).where(Team.tenant_id == actor.tenant_id).order_by(Team.id)))
        return _team_rows(session, actor.tenant_id, teams)


def get_team(sessions: Sessions, actor: Actor, team_id: int) -> Any:
    actor.require(Permission.READ)
    with unit_of_work(sessions) as session:
        return _team_rows(session, actor.tenant_id, [get_owned(session, Team, actor.tenant_id, team_id)])[0]


def add_team(sessions: Sessions, actor: Actor, name: str, description: str, member_ids: list[int]) -> Any:
    with unit_of_work(sessions) as session:
        team = team_rules.create_team(session, actor, name, description, member_ids)
        session.flush()
        return _team_rows(session, actor.tenant_id, [team])[0]


def change_team(sessions: Sessions, actor: Actor, team_id: int, *, name: str | None, description: str | None) -> Any:
    with unit_of_work(sessions) as session:
        team = team_rules.update_team(session, actor, team_id, name=name, description=description)
        session.flush()
        return _team_rows(session, actor.tenant_id, [team])[0]


def set_team_members(sessions: Sessions, actor: Actor, team_id: int, user_ids: list[int]) -> Any:
    with unit_of_work(sessions) as session:
        team = team_rules.set_team_members(session, actor, team_id, user_ids)
        return _team_rows(session, actor.tenant_id, [team])[0]


# --- tenant settings and the audit log --------------------------------------------------------------


def get_tenant(sessions: Sessions, actor: Actor) -> Any:
    with unit_of_work(sessions) as session:
        return plain(session.get_one(Tenant, actor.tenant_id))


def update_tenant(sessions: Sessions, actor: Actor, **changes: Any) -> Any:
    with unit_of_work(sessions) as session:
        tenant = tenant_rules.update_tenant(session, actor, **changes)
        session.flush()
        return plain(tenant)


def audit_log(sessions: Sessions, actor: Actor, before_id: int | None, limit: int) -> list[Any]:
    """The tenant's audit entries, newest first, before ``before_id`` when given."""
    actor.require(Permission.READ_AUDIT)
    with unit_of_work(sessions) as session:
        query = select(AuditEntry).where(AuditEntry.tenant_id == actor.tenant_id)
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        return [plain(a) for a in session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit))]
