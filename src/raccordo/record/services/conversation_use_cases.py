"""The conversation use cases as the REST API calls them: each opens, commits or rolls back its own
unit of work. ``shape`` turns a row into what the caller returns (the API's response model); it
runs inside the unit of work, so what the row needs loads there and nothing loads after it closes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.desk.services import inbox
from raccordo.platform.files import FileStore
from raccordo.platform.store.db import unit_of_work
from raccordo.record.models import Attachment
from raccordo.record.services import conversations, reply
from raccordo.record.services.records import get_owned

Sessions = sessionmaker[Session]
T = TypeVar("T")
Shape = Callable[[Any], T]


def list_page(
    sessions: Sessions,
    actor: Actor,
    fields: dict[str, Any],
    view: str | None,
    limit: int,
    cursor: str | None,
    shape: Shape[T],
) -> tuple[list[T], str | None]:
    """One page of conversations matching ``fields`` (``ConversationFilters``) and, when given, an
    inbox view, whose own conditions win; and the next page's cursor."""
    with unit_of_work(sessions) as session:
        if view:
            fields = fields | inbox.view_filters(session, actor, view)
        rows, next_cursor = conversations.list_conversations(
            session, actor, conversations.ConversationFilters(**fields), limit, cursor
        )
        return [shape(c) for c in rows], next_cursor


def get(sessions: Sessions, actor: Actor, conversation_id: int, shape: Shape[T]) -> T:
    with unit_of_work(sessions) as session:
        return shape(conversations.get_visible(session, actor, conversation_id))


def update(sessions: Sessions, actor: Actor, conversation_id: int, changes: dict[str, Any], shape: Shape[T]) -> T:
    with unit_of_work(sessions) as session:
        return shape(conversations.update_conversation(session, actor, conversation_id, **changes))


def messages(
    sessions: Sessions, actor: Actor, conversation_id: int, limit: int, after_id: int | None, shape: Shape[T]
) -> list[T]:
    with unit_of_work(sessions) as session:
        return [shape(m) for m in conversations.list_messages(session, actor, conversation_id, limit, after_id)]


def timeline(
    sessions: Sessions, actor: Actor, conversation_id: int, limit: int, after_id: int | None, shape: Shape[T]
) -> list[T]:
    with unit_of_work(sessions) as session:
        return [shape(e) for e in conversations.conversation_timeline(session, actor, conversation_id, limit, after_id)]


def send_reply(
    sessions: Sessions,
    files: FileStore,
    actor: Actor,
    conversation_id: int,
    *,
    text: str | None,
    html: str | None,
    inbox_id: int | None,
    attachments: list[reply.UploadedFile],
    max_attachment_bytes: int,
    shape: Shape[T],
    content_attributes: dict[str, Any] | None = None,
) -> T:
    with unit_of_work(sessions) as session:
        message = reply.send_reply(
            session,
            files,
            actor,
            conversation_id,
            text=text or "",  # no text: the reply's text is its HTML's (reply.send_reply)
            html=html,
            inbox_id=inbox_id,
            attachments=attachments,
            max_attachment_bytes=max_attachment_bytes,
            content_attributes=content_attributes,
        )
        session.refresh(message, ["attachments"])
        out = shape(message)
    return out


def add_note(
    sessions: Sessions,
    files: FileStore,
    actor: Actor,
    conversation_id: int,
    *,
    text: str,
    attachments: list[reply.UploadedFile],
    max_attachment_bytes: int,
    shape: Shape[T],
) -> T:
    with unit_of_work(sessions) as session:
        conversations.get_visible(session, actor, conversation_id)  # teammates may annotate; others' are not found
        note = reply.add_note(
            session,
            files,
            actor,
            conversation_id,
            text=text,
            attachments=attachments,
            max_attachment_bytes=max_attachment_bytes,
        )
        session.refresh(note, ["attachments"])
        return shape(note)


@dataclass(frozen=True)
class StoredFile:
    path: Path
    filename: str | None
    content_type: str


def attachment_file(sessions: Sessions, files: FileStore, actor: Actor, attachment_id: int) -> StoredFile:
    """Where the tenant's attachment is stored, its name and its type."""
    actor.require(Permission.READ)
    with unit_of_work(sessions) as session:
        attachment = get_owned(session, Attachment, actor.tenant_id, attachment_id)
        return StoredFile(files.path(attachment.storage_path), attachment.filename, attachment.content_type)
