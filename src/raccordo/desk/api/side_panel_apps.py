"""Side-panel apps: admins manage the iframe apps shown beside conversations; agents get, for one
conversation, the apps that apply with the signed context message each receives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.desk.domain.side_panel import SHAREABLE, app_origin
from raccordo.desk.services import content, side_panel_apps
from raccordo.platform.web import schemas

router = APIRouter(prefix="/api/v1", tags=["side-panel apps"])
SHARE_HELP = (
    "Optional parts of the context the app receives: " + ", ".join(SHAREABLE) + ". Ids, status and channel always go."
)


class AppIn(BaseModel):
    model_config = schemas.Strict
    name: str = Field(min_length=1, max_length=100)
    url: str = Field(
        min_length=1, max_length=2000, description="https, or http on localhost / 127.0.0.1 / [::1] for development."
    )
    active: bool = True
    position: int = Field(default=0, ge=0, le=1000, description="Apps are shown in this order.")
    share: list[str] = Field(
        default_factory=lambda: list(side_panel_apps.DEFAULT_SHARE), max_length=len(SHAREABLE), description=SHARE_HELP
    )
    inbox_ids: list[int] = Field(
        default_factory=list, max_length=200, description="Shown only for conversations on these inboxes (empty: all)."
    )
    queue_ids: list[int] = Field(
        default_factory=list,
        max_length=200,
        description="Shown only for conversations routed through these queues (empty: all).",
    )


class AppPatch(BaseModel):
    model_config = schemas.Strict
    name: str | None = Field(default=None, min_length=1, max_length=100)
    url: str | None = Field(default=None, min_length=1, max_length=2000)
    active: bool | None = None
    position: int | None = Field(default=None, ge=0, le=1000)
    share: list[str] | None = Field(default=None, max_length=len(SHAREABLE), description=SHARE_HELP)
    inbox_ids: list[int] | None = Field(default=None, max_length=200)
    queue_ids: list[int] | None = Field(default=None, max_length=200)


class AppOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    url: str
    origin: str
    active: bool
    position: int
    share: list[str]
    inbox_ids: list[int]
    queue_ids: list[int]
    created_at: datetime


class AppCreated(AppOut):
    secret: str = Field(description="Signs the context token (HS256). Shown only now: store it in the app.")


class AppSecret(BaseModel):
    secret: str = Field(description="The new signing secret, shown only now; the previous one no longer verifies.")


class PanelAppOut(BaseModel):
    id: int
    name: str
    url: str
    origin: str = Field(description="Post the message to this exact origin; accept messages only from it.")
    message: dict[str, Any] = Field(description="The raccordo.context message (see docs/side-panel-apps.md).")


def _out(app: Any, model: type[AppOut] = AppOut, **extra: Any) -> Any:
    return model(
        id=app.id,
        name=app.name,
        url=app.url,
        origin=app_origin(app.url),
        active=app.active,
        position=app.position,
        share=list(app.share or []),
        inbox_ids=list(app.inbox_ids or []),
        queue_ids=list(app.queue_ids or []),
        created_at=app.created_at,
        **extra,
    )


@router.get("/side-panel-apps", response_model=list[AppOut])
def list_apps(request: Request, actor: Actor = ActorDep) -> list[AppOut]:
    return [_out(a) for a in content.list_apps(runtime(request).sessions, actor)]


@router.post("/side-panel-apps", response_model=AppCreated, status_code=201)
def create_app(body: AppIn, request: Request, actor: Actor = ActorDep) -> AppCreated:
    rt = runtime(request)
    app, secret = content.create_app(rt.sessions, rt.secretbox, actor, body.model_dump())
    return _out(app, AppCreated, secret=secret)


@router.get("/side-panel-apps/{app_id}", response_model=AppOut)
def get_app(app_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> AppOut:
    return _out(content.get_app(runtime(request).sessions, actor, app_id))


@router.patch("/side-panel-apps/{app_id}", response_model=AppOut)
def update_app(app_id: schemas.PathId, body: AppPatch, request: Request, actor: Actor = ActorDep) -> AppOut:
    changes = body.model_dump(exclude_unset=True)
    return _out(content.update_app(runtime(request).sessions, actor, app_id, changes))


@router.post("/side-panel-apps/{app_id}/rotate-secret", response_model=AppSecret)
def rotate_secret(app_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> AppSecret:
    rt = runtime(request)
    return AppSecret(secret=content.rotate_app_secret(rt.sessions, rt.secretbox, actor, app_id))


@router.delete("/side-panel-apps/{app_id}", status_code=204)
def delete_app(app_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> Response:
    content.delete_app(runtime(request).sessions, actor, app_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/side-panel-apps", response_model=list[PanelAppOut])
def conversation_apps(conversation_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> list[PanelAppOut]:
    """The active apps shown beside this conversation, each with the context message to post to
    it (token valid 10 minutes)."""
    page_origin = f"{request.url.scheme}://{request.url.netloc}"
    rt = runtime(request)
    apps = content.conversation_apps(rt.sessions, rt.secretbox, actor, conversation_id, page_origin=page_origin)
    return [PanelAppOut(id=a.id, name=a.name, url=a.url, origin=a.origin, message=a.message) for a in apps]
