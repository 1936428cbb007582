"""The composer and the customer panel: colleagues a note can mention, consent decisions."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from raccordo.accounts.api.deps import ActorDep, transaction
from raccordo.accounts.domain.actor import Actor
from raccordo.desk.services import composer, customer_panel
from raccordo.platform.web.schemas import PathId
from raccordo.record import schemas

router = APIRouter(prefix="/api/v1", tags=["composer"])


class PersonOut(BaseModel):
    id: int
    name: str
    handle: str = Field(description="The email's local part.")
    insert: str = Field(description='What to write after "@" to mention this user and nobody else.')


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purpose: Literal[customer_panel.CONSENT_PURPOSES] = Field(
        description="What the decision is about, e.g. marketing_email."
    )  # type: ignore[valid-type]
    granted: bool = Field(description="true grants the purpose, false withdraws it.")
    source: Literal[customer_panel.CONSENT_SOURCES] = Field(description="How the customer expressed it.")  # type: ignore[valid-type]
    note: str | None = Field(default=None, max_length=customer_panel.MAX_NOTE)


@router.get(
    "/composer/people",
    response_model=list[PersonOut],
    description="The tenant's active users, for the @mention autocomplete of internal notes.",
)
def people(request: Request, actor: Actor = ActorDep) -> list[PersonOut]:
    with transaction(request) as session:
        return [
            PersonOut(id=p.id, name=p.name, handle=p.handle, insert=p.insert)
            for p in composer.mentionable(session, actor)
        ]


@router.post(
    "/contacts/{contact_id}/consent",
    response_model=schemas.ContactOut,
    description="Record a consent decision (audited, on the contact's timeline).",
)
def record_consent(
    contact_id: PathId, body: ConsentIn, request: Request, actor: Actor = ActorDep
) -> schemas.ContactOut:
    with transaction(request) as session:
        contact = customer_panel.record_consent(
            session, actor, contact_id, purpose=body.purpose, granted=body.granted, source=body.source, note=body.note
        )
        session.refresh(contact, ["identities"])
        return schemas.ContactOut.model_validate(contact)
