"""Conversations: list with filters and cursor pagination, read, update, messages, reply, note; attachments."""

from __future__ import annotations

import base64
import binascii
import unicodedata
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.platform.errors import InvalidInput
from raccordo.platform.web.schemas import PathId, QueryId
from raccordo.record import schemas
from raccordo.record.services import conversation_use_cases as conversations
from raccordo.record.services import reply

router = APIRouter(prefix="/api/v1", tags=["conversations"])


@router.get("/conversations", response_model=schemas.ConversationPage)
def list_conversations(
    request: Request,
    actor: Actor = ActorDep,
    status: str | None = Query(None, pattern="^(open|pending|snoozed|resolved|closed)$"),
    assignee_id: QueryId = None,
    unassigned: bool = False,
    mine: bool = False,
    team_id: QueryId = None,
    inbox_id: QueryId = None,
    channel: str | None = Query(None, max_length=32),
    label: str | None = Query(None, max_length=100),
    priority: str | None = Query(None, pattern="^(none|low|medium|high|urgent)$"),
    contact_id: QueryId = None,
    view: str | None = Query(
        None,
        pattern="^(mine|unassigned|teams|all)$",
        description="an inbox view: mine, unassigned, teams (the caller's teams), all (supervisors and up)",
    ),
    queue_id: QueryId = None,
    q: str | None = Query(
        None,
        max_length=200,
        description="full-text search over subject, messages, contact name and identities; the last word is a prefix",
    ),
    cursor: str | None = Query(None, max_length=200),
    limit: int = Query(25, ge=1, le=100),
) -> schemas.ConversationPage:
    fields = dict(
        status=status,
        assignee_id=actor.user_id if mine else assignee_id,
        unassigned=unassigned,
        team_id=team_id,
        inbox_id=inbox_id,
        channel=channel,
        label=label.lower() if label else None,
        priority=priority,
        contact_id=contact_id,
        queue_id=queue_id,
        q=q,
    )
    items, next_cursor = conversations.list_page(
        runtime(request).sessions, actor, fields, view, limit, cursor, schemas.ConversationOut.model_validate
    )
    return schemas.ConversationPage(items=items, next_cursor=next_cursor)


@router.get("/conversations/{conversation_id}", response_model=schemas.ConversationOut)
def get_conversation(conversation_id: PathId, request: Request, actor: Actor = ActorDep) -> schemas.ConversationOut:
    return conversations.get(runtime(request).sessions, actor, conversation_id, schemas.ConversationOut.model_validate)


@router.patch("/conversations/{conversation_id}", response_model=schemas.ConversationOut)
def update_conversation(
    conversation_id: PathId, body: schemas.ConversationPatch, request: Request, actor: Actor = ActorDep
) -> schemas.ConversationOut:
    changes = body.model_dump(exclude_unset=True)
    return conversations.update(
        runtime(request).sessions, actor, conversation_id, changes, schemas.ConversationOut.model_validate
    )


@router.get("/conversations/{conversation_id}/messages", response_model=list[schemas.MessageOut])
def messages(
    conversation_id: PathId,
    request: Request,
    actor: Actor = ActorDep,
    after_id: QueryId = None,
    limit: int = Query(50, ge=1, le=500),
) -> list[schemas.MessageOut]:
    return conversations.messages(
        runtime(request).sessions, actor, conversation_id, limit, after_id, schemas.MessageOut.model_validate
    )


@router.get("/conversations/{conversation_id}/timeline", response_model=list[schemas.TimelineOut])
def timeline(
    conversation_id: PathId,
    request: Request,
    actor: Actor = ActorDep,
    after_id: QueryId = None,
    limit: int = Query(200, ge=1, le=1000),
) -> list[schemas.TimelineOut]:
    return conversations.timeline(
        runtime(request).sessions, actor, conversation_id, limit, after_id, schemas.TimelineOut.model_validate
    )


def _uploads(items: list[schemas.AttachmentIn]) -> list[reply.UploadedFile]:
    uploads = []
    for index, item in enumerate(items):
        try:
            data = base64.b64decode(item.data_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("attachment.base64_invalid", field=f"attachments.{index}.data_base64") from None
        uploads.append(reply.UploadedFile(item.filename, item.content_type, data))
    return uploads


@router.post("/conversations/{conversation_id}/reply", response_model=schemas.MessageOut, status_code=201)
def send_reply(
    conversation_id: PathId, body: schemas.ReplyIn, request: Request, actor: Actor = ActorDep
) -> schemas.MessageOut:
    rt = runtime(request)
    return conversations.send_reply(
        rt.sessions,
        rt.files,
        actor,
        conversation_id,
        text=body.text,
        html=body.html,
        inbox_id=body.inbox_id,
        attachments=_uploads(body.attachments),
        max_attachment_bytes=rt.settings.max_attachment_bytes,
        shape=schemas.MessageOut.model_validate,
        content_attributes=body.content_attributes,
    )


@router.post("/conversations/{conversation_id}/notes", response_model=schemas.MessageOut, status_code=201)
def add_note(
    conversation_id: PathId, body: schemas.NoteIn, request: Request, actor: Actor = ActorDep
) -> schemas.MessageOut:
    rt = runtime(request)
    return conversations.add_note(
        rt.sessions,
        rt.files,
        actor,
        conversation_id,
        text=body.text,
        attachments=_uploads(body.attachments),
        max_attachment_bytes=rt.settings.max_attachment_bytes,
        shape=schemas.MessageOut.model_validate,
    )


@router.get("/attachments/{attachment_id}", response_class=FileResponse, tags=["attachments"])
def download(attachment_id: PathId, request: Request, actor: Actor = ActorDep) -> FileResponse:
    rt = runtime(request)
    stored = conversations.attachment_file(rt.sessions, rt.files, actor, attachment_id)
    # Served as a download, never rendered inline: a customer's file must not run in our origin.
    headers = {"Content-Disposition": content_disposition(stored.filename), "X-Content-Type-Options": "nosniff"}
    return FileResponse(stored.path, media_type=stored.content_type, headers=headers)


def content_disposition(filename: str | None) -> str:
    """``attachment`` with the file's own name, never a path (RFC 6266): an ASCII ``filename``
    fallback and the exact name as ``filename*`` (RFC 8187, UTF-8, percent-encoded)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".") or "attachment"
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
