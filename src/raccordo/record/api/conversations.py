"""Conversations: list with filters and cursor pagination, read, update, messages, reply, note; attachments."""

from __future__ import annotations

import base64
import binascii
import unicodedata
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from raccordo.accounts.api.deps import ActorDep, runtime, transaction
from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.desk.services import inbox
from raccordo.platform.errors import InvalidInput
from raccordo.record.models import Attachment
from raccordo.record import schemas
from raccordo.record.services import conversations, reply
from raccordo.record.services.records import get_owned

router = APIRouter(prefix="/api/v1", tags=["conversations"])


@router.get("/conversations", response_model=schemas.ConversationPage)
def list_conversations(
    request: Request,
    actor: Actor = ActorDep,
    status: str | None = Query(None, pattern="^(open|pending|snoozed|resolved|closed)$"),
    assignee_id: schemas.QueryId = None,
    unassigned: bool = False,
    mine: bool = False,
    team_id: schemas.QueryId = None,
    inbox_id: schemas.QueryId = None,
    channel: str | None = Query(None, max_length=32),
    label: str | None = Query(None, max_length=100),
    priority: str | None = Query(None, pattern="^(none|low|medium|high|urgent)$"),
    contact_id: schemas.QueryId = None,
    view: str | None = Query(None, pattern="^(mine|unassigned|teams|all)$", description="an inbox view: mine, unassigned, teams (the caller's teams), all (supervisors and up)"),
    queue_id: schemas.QueryId = None,
    q: str | None = Query(None, max_length=200, description="full-text search over subject, messages, contact name and identities; the last word is a prefix"),
    cursor: str | None = Query(None, max_length=200),
    limit: int = Query(25, ge=1, le=100),
) -> schemas.ConversationPage:
    with transaction(request) as session:
        fields = dict(
            status=status, assignee_id=actor.user_id if mine else assignee_id, unassigned=unassigned, team_id=team_id, inbox_id=inbox_id,
            channel=channel, label=label.lower() if label else None, priority=priority, contact_id=contact_id, queue_id=queue_id, q=q,
        )
        if view:
            fields |= inbox.view_filters(session, actor, view)  # the view's own conditions win
        filters = conversations.ConversationFilters(**fields)  # type: ignore[arg-type]
        rows, next_cursor = conversations.list_conversations(session, actor, filters, limit, cursor)
        return schemas.ConversationPage(items=[schemas.ConversationOut.model_validate(c) for c in rows], next_cursor=next_cursor)


@router.get("/conversations/{conversation_id}", response_model=schemas.ConversationOut)
def get_conversation(conversation_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> schemas.ConversationOut:
    with transaction(request) as session:
        return schemas.ConversationOut.model_validate(conversations.get_visible(session, actor, conversation_id))


@router.patch("/conversations/{conversation_id}", response_model=schemas.ConversationOut)
def update_conversation(conversation_id: schemas.PathId, body: schemas.ConversationPatch, request: Request, actor: Actor = ActorDep) -> schemas.ConversationOut:
    changes = body.model_dump(exclude_unset=True)
    with transaction(request) as session:
        return schemas.ConversationOut.model_validate(conversations.update_conversation(session, actor, conversation_id, **changes))


@router.get("/conversations/{conversation_id}/messages", response_model=list[schemas.MessageOut])
def messages(conversation_id: schemas.PathId, request: Request, actor: Actor = ActorDep, after_id: schemas.QueryId = None, limit: int = Query(50, ge=1, le=500)) -> list[schemas.MessageOut]:
    with transaction(request) as session:
        return [schemas.MessageOut.model_validate(m) for m in conversations.list_messages(session, actor, conversation_id, limit, after_id)]


@router.get("/conversations/{conversation_id}/timeline", response_model=list[schemas.TimelineOut])
def timeline(conversation_id: schemas.PathId, request: Request, actor: Actor = ActorDep, after_id: schemas.QueryId = None, limit: int = Query(200, ge=1, le=1000)) -> list[schemas.TimelineOut]:
    with transaction(request) as session:
        return [schemas.TimelineOut.model_validate(e) for e in conversations.conversation_timeline(session, actor, conversation_id, limit, after_id)]


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
def send_reply(conversation_id: schemas.PathId, body: schemas.ReplyIn, request: Request, actor: Actor = ActorDep) -> schemas.MessageOut:
    rt = runtime(request)
    with transaction(request) as session:
        message = reply.send_reply(session, rt.files, actor, conversation_id, text=body.text, html=body.html, inbox_id=body.inbox_id, attachments=_uploads(body.attachments), max_attachment_bytes=rt.settings.max_attachment_bytes)
        session.refresh(message, ["attachments"])
        out = schemas.MessageOut.model_validate(message)
    return out


@router.post("/conversations/{conversation_id}/notes", response_model=schemas.MessageOut, status_code=201)
def add_note(conversation_id: schemas.PathId, body: schemas.NoteIn, request: Request, actor: Actor = ActorDep) -> schemas.MessageOut:
    rt = runtime(request)
    with transaction(request) as session:
        conversations.get_visible(session, actor, conversation_id)  # teammates may annotate; others' are not found
        note = reply.add_note(session, rt.files, actor, conversation_id, text=body.text, attachments=_uploads(body.attachments), max_attachment_bytes=rt.settings.max_attachment_bytes)
        session.refresh(note, ["attachments"])
        return schemas.MessageOut.model_validate(note)


@router.get("/attachments/{attachment_id}", response_class=FileResponse, tags=["attachments"])
def download(attachment_id: schemas.PathId, request: Request, actor: Actor = ActorDep) -> FileResponse:
    actor.require(Permission.READ)
    with transaction(request) as session:
        attachment = get_owned(session, Attachment, actor.tenant_id, attachment_id)
        path = runtime(request).files.path(attachment.storage_path)
        # Served as a download, never rendered inline: a customer's file must not run in our origin.
        headers = {"Content-Disposition": content_disposition(attachment.filename), "X-Content-Type-Options": "nosniff"}
        return FileResponse(path, media_type=attachment.content_type, headers=headers)


def content_disposition(filename: str | None) -> str:
    """``attachment`` with the file's own name, never a path (RFC 6266): an ASCII ``filename``
    fallback and the exact name as ``filename*`` (RFC 8187, UTF-8, percent-encoded)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().lstrip(".") or "attachment"
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;%' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
