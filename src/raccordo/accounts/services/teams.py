"""Teams and their members, and which teams a user is in."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.models import Team, TeamMember, User
from raccordo.platform.errors import Conflict, InvalidInput
from raccordo.record.services.records import audit, get_owned


def _team_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("team.name_required", field="name")
    return name


def create_team(
    session: Session, actor: Actor, name: str, description: str = "", member_ids: list[int] | None = None
) -> Team:
    actor.require(Permission.MANAGE_TEAMS)
    name = _team_name(name)
    if session.scalar(select(Team.id).where(Team.tenant_id == actor.tenant_id, Team.name == name)) is not None:
        raise Conflict("team.name_taken", field="name", value=name)
    team = Team(tenant_id=actor.tenant_id, name=name, description=description)
    session.add(team)
    session.flush()
    if member_ids:
        set_team_members(session, actor, team.id, member_ids)
    audit(session, actor, "team.create", "team", team.id, {"name": name})
    return team


def user_team_ids(session: Session, tenant_id: int, user_id: int | None) -> list[int]:
    """The teams a user belongs to (none for an integration acting without a user)."""
    if user_id is None:
        return []
    return list(
        session.scalars(
            select(TeamMember.team_id)
            .join(Team, Team.id == TeamMember.team_id)
            .where(Team.tenant_id == tenant_id, TeamMember.user_id == user_id)
        )
    )


def set_team_members(session: Session, actor: Actor, team_id: int, user_ids: list[int]) -> Team:
    actor.require(Permission.MANAGE_TEAMS)
    team = get_owned(session, Team, actor.tenant_id, team_id)
    for user_id in set(user_ids):
        get_owned(session, User, actor.tenant_id, user_id)
    session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    session.add_all(TeamMember(team_id=team.id, user_id=user_id) for user_id in sorted(set(user_ids)))
    session.flush()
    session.refresh(team)
    audit(session, actor, "team.members", "team", team.id, {"user_ids": sorted(set(user_ids))})
    return team


def update_team(session: Session, actor: Actor, team_id: int, *, name: str | None, description: str | None) -> Team:
    actor.require(Permission.MANAGE_TEAMS)
    team = get_owned(session, Team, actor.tenant_id, team_id)
    name = _team_name(name) if name is not None else None
    if name is not None and name != team.name:
        if session.scalar(select(Team.id).where(Team.tenant_id == actor.tenant_id, Team.name == name)) is not None:
            raise Conflict("team.name_taken", field="name", value=name)
        team.name = name
    if description is not None:
        team.description = description
    audit(session, actor, "team.update", "team", team.id, {"name": team.name})
    return team


def delete_team(session: Session, actor: Actor, team_id: int) -> None:
    actor.require(Permission.MANAGE_TEAMS)
    team = get_owned(session, Team, actor.tenant_id, team_id)
    audit(session, actor, "team.delete", "team", team.id, {"name": team.name})
    session.delete(team)
