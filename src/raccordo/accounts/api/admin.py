"""Users, teams and the audit log (inboxes are the channels' own: ``channels/api/inboxes.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from raccordo.accounts.api.deps import ActorDep, transaction
from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.services import accounts
from raccordo.accounts.models import Team, User
from raccordo.record.models import AuditEntry
from raccordo.accounts import schemas
from raccordo.record.services.records import get_owned

router = APIRouter(prefix="/api/v1")


@router.get("/users", response_model=list[schemas.UserOut], tags=["users"])
def list_users(request: Request, actor: Actor = ActorDep) -> list[schemas.UserOut]:
    with transaction(request) as session:
        return [schemas.UserOut.model_validate(u) for u in accounts.list_users(session, actor)]


@router.post("/users", response_model=schemas.UserOut, status_code=201, tags=["users"])
def create_user(body: schemas.UserIn, request: Request, actor: Actor = ActorDep) -> schemas.UserOut:
    with transaction(request) as session:
        user = accounts.create_user(session, actor, email=body.email, name=body.name, role=body.role, password=body.password, language=body.language)
        return schemas.UserOut.model_validate(user)


@router.get("/users/{user_id}", response_model=schemas.UserOut, tags=["users"])
def get_user(user_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> schemas.UserOut:
    actor.require(Permission.READ)
    with transaction(request) as session:
        return schemas.UserOut.model_validate(get_owned(session, User, actor.tenant_id, user_id))


@router.patch("/users/{user_id}", response_model=schemas.UserOut, tags=["users"])
def update_user(user_id: schemas.PathId, body: schemas.UserPatch, request: Request, actor: Actor = ActorDep) -> schemas.UserOut:
    with transaction(request) as session:
        user = accounts.update_user(session, actor, user_id, **body.model_dump(exclude_unset=True))
        return schemas.UserOut.model_validate(user)


def _team_out(team: Team) -> schemas.TeamOut:
    return schemas.TeamOut(id=team.id, name=team.name, description=team.description, member_ids=sorted(m.user_id for m in team.members))


@router.get("/teams", response_model=list[schemas.TeamOut], tags=["teams"])
def list_teams(request: Request, actor: Actor = ActorDep) -> list[schemas.TeamOut]:
    actor.require(Permission.READ)
    with transaction(request) as session:
        return [_team_out(t) for t in session.scalars(select(Team).where(Team.tenant_id == actor.tenant_id).order_by(Team.id))]


@router.post("/teams", response_model=schemas.TeamOut, status_code=201, tags=["teams"])
def create_team(body: schemas.TeamIn, request: Request, actor: Actor = ActorDep) -> schemas.TeamOut:
    with transaction(request) as session:
        return _team_out(accounts.create_team(session, actor, body.name, body.description, body.member_ids))


@router.get("/teams/{team_id}", response_model=schemas.TeamOut, tags=["teams"])
def get_team(team_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> schemas.TeamOut:
    actor.require(Permission.READ)
    with transaction(request) as session:
        return _team_out(get_owned(session, Team, actor.tenant_id, team_id))


@router.patch("/teams/{team_id}", response_model=schemas.TeamOut, tags=["teams"])
def update_team(team_id: schemas.PathId, body: schemas.TeamPatch, request: Request, actor: Actor = ActorDep) -> schemas.TeamOut:
    with transaction(request) as session:
        return _team_out(accounts.update_team(session, actor, team_id, name=body.name, description=body.description))


@router.put("/teams/{team_id}/members", response_model=schemas.TeamOut, tags=["teams"])
def set_members(team_id: schemas.PathId, body: schemas.TeamMembersIn, request: Request, actor: Actor = ActorDep) -> schemas.TeamOut:
    with transaction(request) as session:
        return _team_out(accounts.set_team_members(session, actor, team_id, body.user_ids))


@router.delete("/teams/{team_id}", status_code=204, tags=["teams"])
def delete_team(team_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> Response:
    with transaction(request) as session:
        accounts.delete_team(session, actor, team_id)
    return Response(status_code=204)


@router.get("/audit", response_model=list[schemas.AuditOut], tags=["audit"])
def audit_log(request: Request, actor: Actor = ActorDep, before_id: schemas.QueryId = None, limit: int = Query(100, ge=1, le=500)) -> list[schemas.AuditOut]:
    actor.require(Permission.READ_AUDIT)
    with transaction(request) as session:
        query = select(AuditEntry).where(AuditEntry.tenant_id == actor.tenant_id)
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        return [schemas.AuditOut.model_validate(a) for a in session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit))]
