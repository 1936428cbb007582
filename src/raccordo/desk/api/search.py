"""Full-text search: ``GET /api/v1/search?q=`` finds contacts (name, identities) and conversations
(subject, messages, contact), tenant-scoped; an agent only finds the conversations of their views.
``GET /api/v1/conversations?q=`` filters the conversation list the same way."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.desk.services import search_use_cases as search
from raccordo.record import schemas

router = APIRouter(prefix="/api/v1", tags=["search"])


class ContactHitOut(BaseModel):
    contact: schemas.ContactOut
    latest_conversation_id: int | None = Field(description="The contact's most recently active conversation, if any.")
    conversations: int = Field(description="How many conversations the contact has.")


class SearchOut(BaseModel):
    contacts: list[ContactHitOut]
    conversations: list[schemas.ConversationOut]
    next_cursor: str | None = Field(
        description="Pass to GET /api/v1/conversations?q=… (same q) for more conversations."
    )


@router.get("/search", response_model=SearchOut)
def search_all(
    request: Request,
    actor: Actor = ActorDep,
    q: str = Query(
        ...,
        min_length=1,
        max_length=search.MAX_QUERY_CHARS,
        description="words to find (all of them); the last is a prefix unless followed by a space",
    ),
    limit: int = Query(10, ge=1, le=50),
) -> SearchOut:
    found = search.search_all(runtime(request).sessions, actor, q, limit)
    return SearchOut(
        contacts=[
            ContactHitOut(
                contact=schemas.ContactOut.model_validate(h.contact),
                latest_conversation_id=h.latest_conversation_id,
                conversations=h.conversations,
            )
            for h in found.contacts
        ],
        conversations=[schemas.ConversationOut.model_validate(c) for c in found.conversations],
        next_cursor=found.next_cursor,
    )
