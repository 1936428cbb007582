"""The agenda API: schedule, list, change, cancel and complete callbacks and follow-ups (``services/agenda.py``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.desk.services import agenda_use_cases as agenda
from raccordo.platform.web.schemas import MAX_ID, PathId

router = APIRouter(prefix="/api/v1", tags=["agenda"])

Kind = Literal["callback", "follow_up"]
RowId = Field(default=None, ge=1, le=MAX_ID)


class AgendaItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conversation_id: int = Field(ge=1, le=MAX_ID)
    kind: Kind = "callback"
    due_at: AwareDatetime = Field(description="When it falls due, with its UTC offset; must be in the future.")
    channel: str | None = Field(
        default=None,
        max_length=32,
        description=(
            '"phone" (a call: the contact needs a phone number) or an inbox channel; '
            "default: the conversation's last inbox."
        ),
    )
    inbox_id: int | None = RowId
    queue_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description=(
            "Where the work goes if the owner is away; default: the conversation's last queue, then the routing rules."
        ),
    )
    owner_id: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="Who gets the work; default: the caller (supervisors may name another agent).",
    )
    note: str = Field(default="", max_length=2000)


class AgendaItemPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Kind | None = None
    due_at: AwareDatetime | None = Field(
        default=None, description="A new due time reschedules the item (it becomes scheduled again)."
    )
    channel: str | None = Field(default=None, max_length=32)
    inbox_id: int | None = RowId
    queue_id: int | None = RowId
    owner_id: int | None = RowId
    note: str | None = Field(default=None, max_length=2000)


class AgendaItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    conversation_id: int
    contact_id: int
    owner_id: int | None
    created_by_id: int | None
    kind: str
    channel: str
    inbox_id: int | None
    queue_id: int | None
    due_at: datetime
    note: str
    status: str
    outcome: str | None
    routed_user_id: int | None
    routed_queue_id: int | None
    fired_at: datetime | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class AgendaList(BaseModel):
    items: list[AgendaItemOut]


@router.get("/agenda", response_model=AgendaList)
def list_agenda(
    request: Request,
    actor: Actor = ActorDep,
    scope: Literal["mine", "all"] = Query(
        "mine", description="mine: owned or created by the caller; all: the whole tenant (supervisors)."
    ),
    status: Literal["scheduled", "due", "done", "cancelled", "missed", "open", "overdue"] | None = Query(
        None, description="open: scheduled or due; overdue: open and past its time."
    ),
    day: date | None = Query(None, description="A day in the tenant's timezone."),
    limit: int = Query(200, ge=1, le=500),
) -> AgendaList:
    rows = agenda.list_items(
        runtime(request).sessions, actor, agenda.AgendaFilters(scope=scope, status=status, day=day), limit
    )
    return AgendaList(items=[AgendaItemOut.model_validate(r) for r in rows])


@router.post("/agenda", response_model=AgendaItemOut, status_code=201)
def create_agenda_item(body: AgendaItemIn, request: Request, actor: Actor = ActorDep) -> AgendaItemOut:
    return AgendaItemOut.model_validate(agenda.schedule(runtime(request).sessions, actor, body.model_dump()))


@router.get("/agenda/{agenda_item_id}", response_model=AgendaItemOut)
def get_agenda_item(agenda_item_id: PathId, request: Request, actor: Actor = ActorDep) -> AgendaItemOut:
    return AgendaItemOut.model_validate(agenda.get_item(runtime(request).sessions, actor, agenda_item_id))


@router.patch("/agenda/{agenda_item_id}", response_model=AgendaItemOut)
def update_agenda_item(
    agenda_item_id: PathId, body: AgendaItemPatch, request: Request, actor: Actor = ActorDep
) -> AgendaItemOut:
    changes = body.model_dump(exclude_unset=True)
    for name in ("kind", "due_at", "owner_id"):  # null means "leave it" for these
        if changes.get(name, 0) is None:
            changes.pop(name)
    return AgendaItemOut.model_validate(agenda.update(runtime(request).sessions, actor, agenda_item_id, changes))


@router.post("/agenda/{agenda_item_id}/cancel", response_model=AgendaItemOut)
def cancel_agenda_item(agenda_item_id: PathId, request: Request, actor: Actor = ActorDep) -> AgendaItemOut:
    return AgendaItemOut.model_validate(agenda.cancel(runtime(request).sessions, actor, agenda_item_id))


@router.post("/agenda/{agenda_item_id}/complete", response_model=AgendaItemOut)
def complete_agenda_item(agenda_item_id: PathId, request: Request, actor: Actor = ActorDep) -> AgendaItemOut:
    return AgendaItemOut.model_validate(agenda.complete(runtime(request).sessions, actor, agenda_item_id))


@router.get("/conversations/{conversation_id}/agenda", response_model=AgendaList)
def conversation_agenda(conversation_id: PathId, request: Request, actor: Actor = ActorDep) -> AgendaList:
    rows = agenda.conversation_items(runtime(request).sessions, actor, conversation_id)
    return AgendaList(items=[AgendaItemOut.model_validate(r) for r in rows])
