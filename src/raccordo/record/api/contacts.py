"""Contacts: create, update, search, identities, merge and suggestions, timeline."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request

from raccordo.accounts.api.deps import ActorDep, transaction
from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.models import Tenant
from raccordo.record import schemas
from raccordo.record.services import contacts, identity
from raccordo.record.services.identity import IdentityInput

router = APIRouter(prefix="/api/v1", tags=["contacts"])


def _region(session, actor: Actor) -> str:  # type: ignore[no-untyped-def]
    return session.get(Tenant, actor.tenant_id).default_region


def _out(session, contact) -> schemas.ContactOut:  # type: ignore[no-untyped-def]
    session.refresh(contact, ["identities"])
    return schemas.ContactOut.model_validate(contact)


@router.get("/contacts", response_model=list[schemas.ContactOut])
def search(request: Request, actor: Actor = ActorDep, q: str | None = Query(None, max_length=320, description="Name, or any identity in any written form (email, phone, ids)."), after_id: schemas.QueryId = None, limit: int = Query(25, ge=1, le=200)) -> list[schemas.ContactOut]:
    with transaction(request) as session:
        return [schemas.ContactOut.model_validate(c) for c in contacts.search_contacts(session, actor, q, limit, after_id)]


@router.post("/contacts", response_model=schemas.ContactOut, status_code=201)
def create(body: schemas.ContactIn, request: Request, actor: Actor = ActorDep) -> schemas.ContactOut:
    with transaction(request) as session:
        contact = contacts.create_contact(
            session, actor, name=body.name, language=body.language, identities=[IdentityInput(i.kind, i.value, i.verified) for i in body.identities],
            custom_attributes=body.custom_attributes, region=_region(session, actor),
        )
        return _out(session, contact)


@router.get("/contacts/merge-suggestions", response_model=list[schemas.SuggestionOut])
def suggestions(request: Request, actor: Actor = ActorDep, contact_id: schemas.QueryId = None, limit: int = Query(50, ge=1, le=200)) -> list[schemas.SuggestionOut]:
    with transaction(request) as session:
        return [schemas.SuggestionOut.model_validate(s) for s in contacts.list_suggestions(session, actor, contact_id, limit)]


@router.post("/contacts/merge-suggestions/{suggestion_id}/dismiss", response_model=schemas.SuggestionOut)
def dismiss(suggestion_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> schemas.SuggestionOut:
    with transaction(request) as session:
        return schemas.SuggestionOut.model_validate(identity.dismiss_suggestion(session, actor, suggestion_id))


@router.get("/contacts/{contact_id}", response_model=schemas.ContactOut, description="A merged-away id answers with the surviving contact.")
def get(contact_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> schemas.ContactOut:
    actor.require(contacts.Permission.READ)
    with transaction(request) as session:
        return schemas.ContactOut.model_validate(identity.live_contact(session, actor.tenant_id, contact_id))


@router.patch("/contacts/{contact_id}", response_model=schemas.ContactOut)
def update(contact_id: schemas.PathId, body: schemas.ContactPatch, request: Request, actor: Actor = ActorDep) -> schemas.ContactOut:
    with transaction(request) as session:
        contact = contacts.update_contact(session, actor, contact_id, **body.model_dump(exclude_unset=True))
        return _out(session, contact)


@router.post("/contacts/{contact_id}/identities", response_model=schemas.IdentityOut, status_code=201)
def add_identity(contact_id: schemas.PathId, body: schemas.IdentityIn, request: Request, actor: Actor = ActorDep) -> schemas.IdentityOut:
    with transaction(request) as session:
        return schemas.IdentityOut.model_validate(identity.add_identity(session, actor, contact_id, IdentityInput(body.kind, body.value, body.verified), _region(session, actor)))


@router.post("/contacts/{contact_id}/merge", response_model=schemas.ContactOut)
def merge(contact_id: schemas.PathId, body: schemas.MergeIn, request: Request, actor: Actor = ActorDep) -> schemas.ContactOut:
    with transaction(request) as session:
        return _out(session, identity.merge_contacts(session, actor, contact_id, body.other_id))


@router.get("/contacts/{contact_id}/timeline", response_model=list[schemas.TimelineOut])
def timeline(contact_id: schemas.PathId, request: Request, actor: Actor = ActorDep, before_id: schemas.QueryId = None, limit: int = Query(200, ge=1, le=1000)) -> list[schemas.TimelineOut]:
    with transaction(request) as session:
        return [schemas.TimelineOut.model_validate(e) for e in contacts.contact_timeline(session, actor, contact_id, limit, before_id)]


@router.get("/contacts/{contact_id}/conversations", response_model=list[schemas.ConversationOut])
def conversations(contact_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> list[schemas.ConversationOut]:
    with transaction(request) as session:
        return [schemas.ConversationOut.model_validate(c) for c in contacts.contact_conversations(session, actor, contact_id)]
