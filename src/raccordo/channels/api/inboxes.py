"""``/api/v1/inboxes``: an organization's inboxes (one per channel account), their settings,
write-only secrets (revealed on request to those who may manage them) and the inbound URL."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.channels import schemas
from raccordo.channels.services import inbox_admin, inboxes
from raccordo.platform.web.schemas import PathId

router = APIRouter(prefix="/api/v1")


def _inbox_out(request: Request, inbox: Any) -> schemas.InboxOut:
    rt = runtime(request)
    names = sorted(rt.secretbox.open(inbox.secrets_encrypted))
    inbound = inboxes.webhook_url(rt.settings.resolved_public_url, inbox.channel, inbox.identifier)
    return schemas.InboxOut(
        id=inbox.id,
        name=inbox.name,
        channel=inbox.channel,
        identifier=inbox.identifier,
        settings=inbox.settings,
        secret_names=names,
        business_hours=inbox.business_hours,
        active=inbox.active,
        inbound_url=inbound,
        created_at=inbox.created_at,
    )


@router.get("/inboxes", response_model=list[schemas.InboxOut], tags=["inboxes"])
def list_inboxes(request: Request, actor: Actor = ActorDep) -> list[schemas.InboxOut]:
    return [_inbox_out(request, i) for i in inbox_admin.list_inboxes(runtime(request).sessions, actor)]


@router.post("/inboxes", response_model=schemas.InboxCreated, status_code=201, tags=["inboxes"])
def create_inbox(body: schemas.InboxIn, request: Request, actor: Actor = ActorDep) -> schemas.InboxCreated:
    rt = runtime(request)
    inbox, secrets = inbox_admin.create_inbox(
        rt.sessions,
        rt.secretbox,
        actor,
        name=body.name,
        channel=body.channel,
        settings=body.settings,
        secrets_=body.secrets,
        business_hours=body.business_hours,
    )
    return schemas.InboxCreated(**_inbox_out(request, inbox).model_dump(), secrets=secrets)


@router.get("/inboxes/{inbox_id}", response_model=schemas.InboxOut, tags=["inboxes"])
def get_inbox(inbox_id: PathId, request: Request, actor: Actor = ActorDep) -> schemas.InboxOut:
    return _inbox_out(request, inbox_admin.get_inbox(runtime(request).sessions, actor, inbox_id))


@router.patch("/inboxes/{inbox_id}", response_model=schemas.InboxOut, tags=["inboxes"])
def update_inbox(
    inbox_id: PathId, body: schemas.InboxPatch, request: Request, actor: Actor = ActorDep
) -> schemas.InboxOut:
    rt = runtime(request)
    inbox = inbox_admin.update_inbox(
        rt.sessions,
        rt.secretbox,
        actor,
        inbox_id,
        name=body.name,
        settings=body.settings,
        secrets_=body.secrets,
        business_hours=body.business_hours,
        active=body.active,
    )
    return _inbox_out(request, inbox)


@router.post("/inboxes/{inbox_id}/reveal-secrets", response_model=dict[str, str], tags=["inboxes"])
def reveal_secrets(inbox_id: PathId, request: Request, actor: Actor = ActorDep) -> dict[str, str]:
    rt = runtime(request)
    return inbox_admin.reveal_secrets(rt.sessions, rt.secretbox, actor, inbox_id)
