"""Contacts: create, update, search, identities, merge and suggestions, timeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.platform.web.schemas import PathId, QueryId
from raccordo.record import schemas
from raccordo.record.services import contact_use_cases as contacts
from raccordo.record.services.identity import IdentityInput

router = APIRouter(prefix="/api/v1", tags=["contacts"])


def _sessions(request: Request) -> Any:
    return runtime(request).sessions


@router.get("/contacts", response_model=list[schemas.ContactOut])
def search(
    request: Request,
    actor: Actor = ActorDep,
    q: str | None = Query(
        None, max_length=320, description="Name, or any identity in any written form (email, phone, ids)."
    ),
    after_id: QueryId = None,
    limit: int = Query(25, ge=1, le=200),
) -> list[schemas.ContactOut]:
    return contacts.search(_sessions(request), actor, q, limit, after_id, schemas.ContactOut.model_validate)


@router.post("/contacts", response_model=schemas.ContactOut, status_code=201)
def create(body: schemas.ContactIn, request: Request, actor: Actor = ActorDep) -> schemas.ContactOut:
    return contacts.create(
        _sessions(request),
        actor,
        name=body.name,
        language=body.language,
        identities=[IdentityInput(i.kind, i.value, i.verified) for i in body.identities],
        custom_attributes=body.custom_attributes,
        shape=schemas.ContactOut.model_validate,
    )


@router.get("/contacts/merge-suggestions", response_model=list[schemas.SuggestionOut])
def suggestions(
    request: Request, actor: Actor = ActorDep, contact_id: QueryId = None, limit: int = Query(50, ge=1, le=200)
) -> list[schemas.SuggestionOut]:
    return contacts.suggestions(_sessions(request), actor, contact_id, limit, schemas.SuggestionOut.model_validate)


@router.post("/contacts/merge-suggestions/{suggestion_id}/dismiss", response_model=schemas.SuggestionOut)
def dismiss(suggestion_id: PathId, request: Request, actor: Actor = ActorDep) -> schemas.SuggestionOut:
    return contacts.dismiss(_sessions(request), actor, suggestion_id, schemas.SuggestionOut.model_validate)


@router.get(
    "/contacts/{contact_id}",
    response_model=schemas.ContactOut,
    description="A merged-away id answers with the surviving contact.",
)
def get(contact_id: PathId, request: Request, actor: Actor = ActorDep) -> schemas.ContactOut:
    return contacts.get(_sessions(request), actor, contact_id, schemas.ContactOut.model_validate)


@router.patch("/contacts/{contact_id}", response_model=schemas.ContactOut)
def update(
    contact_id: PathId, body: schemas.ContactPatch, request: Request, actor: Actor = ActorDep
) -> schemas.ContactOut:
    return contacts.update(
        _sessions(request), actor, contact_id, body.model_dump(exclude_unset=True), schemas.ContactOut.model_validate
    )


@router.post("/contacts/{contact_id}/identities", response_model=schemas.IdentityOut, status_code=201)
def add_identity(
    contact_id: PathId, body: schemas.IdentityIn, request: Request, actor: Actor = ActorDep
) -> schemas.IdentityOut:
    return contacts.add_identity(
        _sessions(request),
        actor,
        contact_id,
        IdentityInput(body.kind, body.value, body.verified),
        schemas.IdentityOut.model_validate,
    )


@router.post("/contacts/{contact_id}/merge", response_model=schemas.ContactOut)
def merge(contact_id: PathId, body: schemas.MergeIn, request: Request, actor: Actor = ActorDep) -> schemas.ContactOut:
    return contacts.merge(_sessions(request), actor, contact_id, body.other_id, schemas.ContactOut.model_validate)


@router.get("/contacts/{contact_id}/timeline", response_model=list[schemas.TimelineOut])
def timeline(
    contact_id: PathId,
    request: Request,
    actor: Actor = ActorDep,
    before_id: QueryId = None,
    limit: int = Query(200, ge=1, le=1000),
) -> list[schemas.TimelineOut]:
    return contacts.timeline(
        _sessions(request), actor, contact_id, limit, before_id, schemas.TimelineOut.model_validate
    )


@router.get("/contacts/{contact_id}/conversations", response_model=list[schemas.ConversationOut])
def conversations(contact_id: PathId, request: Request, actor: Actor = ActorDep) -> list[schemas.ConversationOut]:
    return contacts.conversations(_sessions(request), actor, contact_id, schemas.ConversationOut.model_validate)
