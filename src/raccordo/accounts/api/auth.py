"""Log in and out (session cookie + CSRF token), who am I, personal API tokens."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from raccordo.accounts import schemas
from raccordo.accounts.api.deps import SESSION_COOKIE, ActorDep, log_in, log_out, runtime, set_session_cookies
from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.services import admin, profile
from raccordo.platform.hours import tenant_zone
from raccordo.platform.web.schemas import PathId

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/login", response_model=schemas.LoginOut)
def login(body: schemas.LoginIn, request: Request, response: Response) -> schemas.LoginOut:
    new = log_in(request, email=body.email, password=body.password, tenant=body.tenant)
    set_session_cookies(request, response, new)
    return schemas.LoginOut(
        user=schemas.UserOut.model_validate(new.user), csrf_token=new.csrf_token, expires_at=new.expires_at
    )


@router.post("/auth/logout", status_code=204)
def logout(request: Request, response: Response, actor: Actor = ActorDep) -> Response:
    log_out(request, response)
    response.status_code = 204
    return response


@router.get("/auth/me", response_model=schemas.MeOut)
def me(request: Request, actor: Actor = ActorDep) -> schemas.MeOut:
    user, tenant, team_ids = profile.whoami(runtime(request).sessions, actor)
    return schemas.MeOut(
        user=schemas.UserOut.model_validate(user),
        tenant={
            "id": tenant.id,
            "slug": tenant.slug,
            "name": tenant.name,
            "default_region": tenant.default_region,
            "default_language": tenant.default_language,
        },
        team_ids=team_ids,
    )


@router.patch("/auth/me", response_model=schemas.UserOut, description="The signed-in user's own name and language.")
def update_me(body: schemas.ProfilePatch, request: Request, actor: Actor = ActorDep) -> schemas.UserOut:
    return schemas.UserOut.model_validate(
        profile.update_profile(runtime(request).sessions, actor, name=body.name, language=body.language)
    )


@router.post(
    "/auth/password",
    status_code=204,
    description="Change one's own password: the current one is required; other sessions end.",
)
def change_password(body: schemas.PasswordChangeIn, request: Request, actor: Actor = ActorDep) -> Response:
    profile.change_own_password(
        runtime(request).sessions,
        actor,
        current_password=body.current_password,
        new_password=body.new_password,
        keep_login_session=request.cookies.get(SESSION_COOKIE),
    )
    return Response(status_code=204)


def tenant_out(tenant: Any) -> schemas.TenantOut:
    continuity = (tenant.settings or {}).get("continuity", {})
    return schemas.TenantOut(
        id=tenant.id,
        slug=tenant.slug,
        name=tenant.name,
        default_region=tenant.default_region,
        default_language=tenant.default_language,
        continuity_across_channels=bool(continuity.get("across_channels", True)),
        reopen_window_hours=float(continuity.get("reopen_window_hours", 168)),
        timezone=tenant_zone(tenant.settings).key,
    )


@router.get("/tenant", response_model=schemas.TenantOut, tags=["tenant"])
def get_tenant(request: Request, actor: Actor = ActorDep) -> schemas.TenantOut:
    return tenant_out(admin.get_tenant(runtime(request).sessions, actor))


@router.patch("/tenant", response_model=schemas.TenantOut, tags=["tenant"])
def update_tenant(body: schemas.TenantPatch, request: Request, actor: Actor = ActorDep) -> schemas.TenantOut:
    return tenant_out(admin.update_tenant(runtime(request).sessions, actor, **body.model_dump(exclude_unset=True)))


@router.get("/tokens", response_model=list[schemas.TokenOut], tags=["tokens"])
def list_tokens(request: Request, actor: Actor = ActorDep) -> list[schemas.TokenOut]:
    return [schemas.TokenOut.model_validate(t) for t in profile.list_tokens(runtime(request).sessions, actor)]


@router.post("/tokens", response_model=schemas.TokenCreated, status_code=201, tags=["tokens"])
def create_token(body: schemas.TokenIn, request: Request, actor: Actor = ActorDep) -> schemas.TokenCreated:
    token, secret = profile.create_token(runtime(request).sessions, actor, body.name)
    return schemas.TokenCreated(**schemas.TokenOut.model_validate(token).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"])
def revoke_token(token_id: PathId, request: Request, actor: Actor = ActorDep) -> Response:
    profile.revoke_token(runtime(request).sessions, actor, token_id)
    return Response(status_code=204)
