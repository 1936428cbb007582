"""Agent presence over REST (the WebSocket carries the same changes live)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from raccordo.accounts.api.deps import ActorDep, transaction
from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.realtime.services import presence

router = APIRouter(prefix="/api/v1", tags=["presence"])


class PresenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["online", "away", "offline"]
    reason: str | None = Field(
        default=None, max_length=64, description="Why away (e.g. break, training, after-call work)."
    )


class PresenceOut(BaseModel):
    user_id: int
    name: str
    status: str
    reason: str | None
    connections: int
    updated_at: datetime | None


@router.get("/presence", response_model=list[PresenceOut])
def list_presence(request: Request, actor: Actor = ActorDep) -> list[PresenceOut]:
    actor.require(Permission.READ)
    with transaction(request) as session:
        return [
            PresenceOut(
                user_id=u.id,
                name=u.name,
                status=p.status if p else "offline",
                reason=p.reason if p else None,
                connections=n,
                updated_at=p.updated_at if p else None,
            )
            for u, p, n in presence.list_presence(session, actor.tenant_id)
        ]


@router.put("/presence/me", response_model=PresenceOut)
def set_my_presence(body: PresenceIn, request: Request, actor: Actor = ActorDep) -> PresenceOut:
    with transaction(request) as session:
        row = presence.set_status(session, actor, body.status, body.reason)
        me = next(item for item in presence.list_presence(session, actor.tenant_id) if item[0].id == actor.user_id)
        return PresenceOut(
            user_id=actor.user_id,
            name=me[0].name,
            status=row.status,
            reason=row.reason,
            connections=me[2],
            updated_at=row.updated_at,
        )  # type: ignore[arg-type]
