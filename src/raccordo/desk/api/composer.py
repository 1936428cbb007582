"""The composer and the customer panel: colleagues a note can mention, consent decisions."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.desk.services import composer_use_cases, customer_panel, delivery_alerts
from raccordo.desk.services.customer_panel import CONSENT_PURPOSES
from raccordo.platform.i18n import translate
from raccordo.platform.web.errors import request_language
from raccordo.platform.web.schemas import PathId, QueryId
from raccordo.record import schemas

router = APIRouter(prefix="/api/v1", tags=["composer"])


class PersonOut(BaseModel):
    id: int
    name: str
    handle: str = Field(description="The email's local part.")
    insert: str = Field(description='What to write after "@" to mention this user and nobody else.')


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The record owns the purposes as a tuple of names: a Literal built from it at run time (the
    # schema's enum, pydantic's check), which a static checker cannot follow.
    purpose: Literal[CONSENT_PURPOSES] = Field(  # type: ignore[valid-type]
        description="What the decision is about, e.g. marketing_email."
    )
    granted: bool = Field(description="true grants the purpose, false withdraws it.")
    source: customer_panel.ConsentSource = Field(description="How the customer expressed it.")
    note: str | None = Field(default=None, max_length=customer_panel.MAX_NOTE)


@router.get(
    "/composer/people",
    response_model=list[PersonOut],
    description="The tenant's active users, for the @mention autocomplete of internal notes.",
)
def people(request: Request, actor: Actor = ActorDep) -> list[PersonOut]:
    users = composer_use_cases.people(runtime(request).sessions, actor)
    return [PersonOut(id=u.id, name=u.name, handle=u.handle, insert=u.insert) for u in users]


class ChannelTemplateOut(BaseModel):
    name: str
    language: str
    category: str
    body: str = Field(description="The text with {{1}}, {{2}}... where the variables go.")
    prefill: list[str] = Field(description="A value per variable filled from the contact and conversation, or empty.")
    hints: list[str] = Field(description="The template's example per variable.")
    attributes: dict[str, Any] = Field(
        description="The reply's content_attributes for this template; add the values as template.variables."
    )
    unavailable: str | None = Field(description="Why it cannot be sent to this contact, in the reader's language.")


@router.get(
    "/conversations/{conversation_id}/channel-templates",
    response_model=list[ChannelTemplateOut],
    description="The provider-approved templates of an inbox (a WhatsApp number's; default: the customer's last"
    " inbox), for the composer's picker.",
)
def channel_templates(
    conversation_id: PathId, request: Request, inbox_id: QueryId = None, actor: Actor = ActorDep
) -> list[ChannelTemplateOut]:
    rows = composer_use_cases.channel_templates(runtime(request).sessions, actor, conversation_id, inbox_id)
    language = request_language(request)
    return [
        ChannelTemplateOut(
            name=row.name,
            language=row.language,
            category=row.category,
            body=row.body,
            prefill=list(row.prefill),
            hints=list(row.hints),
            attributes=row.attributes,
            unavailable=translate(row.unavailable, language, name=row.name) if row.unavailable else None,
        )
        for row in rows
    ]


@router.post(
    "/contacts/{contact_id}/consent",
    response_model=schemas.ContactOut,
    description="Record a consent decision (audited, on the contact's timeline).",
)
def record_consent(
    contact_id: PathId, body: ConsentIn, request: Request, actor: Actor = ActorDep
) -> schemas.ContactOut:
    contact = composer_use_cases.record_consent(
        runtime(request).sessions,
        actor,
        contact_id,
        purpose=body.purpose,
        granted=body.granted,
        source=body.source,
        note=body.note,
    )
    return schemas.ContactOut.model_validate(contact)


@router.post(
    "/messages/{reply_id}/retry",
    response_model=schemas.MessageOut,
    responses={
        403: {"description": "The role may not answer, or the conversation is another agent's."},
        404: {"description": "No such message in the organization, or not visible to the caller."},
        409: {"description": "The message was already delivered, or is not a reply."},
    },
    description=(
        "Queue a reply whose delivery failed again, now, with the same idempotency key. Idempotent: a"
        " send already queued or in flight is left as it is (200 with the message)."
    ),
)
def retry_delivery(reply_id: PathId, request: Request, actor: Actor = ActorDep) -> schemas.MessageOut:
    return delivery_alerts.retry(runtime(request).sessions, actor, reply_id, schemas.MessageOut.model_validate)
