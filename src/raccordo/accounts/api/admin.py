"""Users, teams and the audit log (inboxes are the channels' own: ``channels/api/inboxes.py``).
Each route parses its input, calls one use case of ``accounts.services.admin`` and shapes the
answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from raccordo.accounts import schemas
from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.services import admin
from raccordo.platform.web.schemas import PathId, QueryId

router = APIRouter(prefix="/api/v1")


def _sessions(request: Request) -> Any:
    return runtime(request).sessions


@router.get("/users", response_model=list[schemas.UserOut], tags=["users"])
def list_users(request: Request, actor: Actor = ActorDep) -> list[schemas.UserOut]:
    return [schemas.UserOut.model_validate(u) for u in admin.list_users(_sessions(request), actor)]


@router.post("/users", response_model=schemas.UserOut, status_code=201, tags=["users"])
def create_user(body: schemas.UserIn, request: Request, actor: Actor = ActorDep) -> schemas.UserOut:
    user = admin.add_user(
        _sessions(request),
        actor,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
        language=body.language,
    )
    return schemas.UserOut.model_validate(user)


@router.get("/users/{user_id}", response_model=schemas.UserOut, tags=["users"])
def get_user(user_id: PathId, request: Request, actor: Actor = ActorDep) -> schemas.UserOut:
    return schemas.UserOut.model_validate(admin.get_user(_sessions(request), actor, user_id))


@router.patch("/users/{user_id}", response_model=schemas.UserOut, tags=["users"])
def update_user(user_id: PathId, body: schemas.UserPatch, request: Request, actor: Actor = ActorDep) -> schemas.UserOut:
    return schemas.UserOut.model_validate(
        admin.change_user(_sessions(request), actor, user_id, **body.model_dump(exclude_unset=True))
    )


def _team_out(team: Any) -> schemas.TeamOut:
    return schemas.TeamOut(id=team.id, name=team.name, description=team.description, member_ids=team.member_ids)


@router.get("/teams", response_model=list[schemas.TeamOut], tags=["teams"])
def list_teams(request: Request, actor: Actor = ActorDep) -> list[schemas.TeamOut]:
    return [_team_out(t) for t in admin.list_teams(_sessions(request), actor)]


@router.post("/teams", response_model=schemas.TeamOut, status_code=201, tags=["teams"])
def create_team(body: schemas.TeamIn, request: Request, actor: Actor = ActorDep) -> schemas.TeamOut:
    return _team_out(admin.add_team(_sessions(request), actor, body.name, body.description, body.member_ids))


@router.get("/teams/{team_id}", response_model=schemas.TeamOut, tags=["teams"])
def get_team(team_id: PathId, request: Request, actor: Actor = ActorDep) -> schemas.TeamOut:
    return _team_out(admin.get_team(_sessions(request), actor, team_id))


@router.patch("/teams/{team_id}", response_model=schemas.TeamOut, tags=["teams"])
def update_team(team_id: PathId, body: schemas.TeamPatch, request: Request, actor: Actor = ActorDep) -> schemas.TeamOut:
    return _team_out(
        admin.change_team(_sessions(request), actor, team_id, name=body.name, description=body.description)
    )


@router.put("/teams/{team_id}/members", response_model=schemas.TeamOut, tags=["teams"])
def set_members(
    team_id: PathId, body: schemas.TeamMembersIn, request: Request, actor: Actor = ActorDep
) -> schemas.TeamOut:
    return _team_out(admin.set_team_members(_sessions(request), actor, team_id, body.user_ids))


@router.delete("/teams/{team_id}", status_code=204, tags=["teams"])
def delete_team(team_id: PathId, request: Request, actor: Actor = ActorDep) -> Response:
    admin.delete_team(_sessions(request), actor, team_id)
    return Response(status_code=204)


@router.get("/audit", response_model=list[schemas.AuditOut], tags=["audit"])
def audit_log(
    request: Request, actor: Actor = ActorDep, before_id: QueryId = None, limit: int = Query(100, ge=1, le=500)
) -> list[schemas.AuditOut]:
    return [schemas.AuditOut.model_validate(a) for a in admin.audit_log(_sessions(request), actor, before_id, limit)]
