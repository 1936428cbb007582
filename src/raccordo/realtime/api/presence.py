"""Agent presence over REST (the WebSocket carries the same changes live)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.realtime.services import presence_use_cases

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


def _sessions(request: Request) -> Any:
    return runtime(request).sessions


@router.get("/presence", response_model=list[PresenceOut])
def list_presence(request: Request, actor: Actor = ActorDep) -> list[PresenceOut]:
    return [
        PresenceOut.model_validate(view, from_attributes=True)
        for view in presence_use_cases.list_presence(_sessions(request), actor)
    ]


@router.put("/presence/me", response_model=PresenceOut)
def set_my_presence(body: PresenceIn, request: Request, actor: Actor = ActorDep) -> PresenceOut:
    view = presence_use_cases.set_my_presence(_sessions(request), actor, body.status, body.reason)
    return PresenceOut.model_validate(view, from_attributes=True)
