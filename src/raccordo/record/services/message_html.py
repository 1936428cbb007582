"""A message's HTML as an isolated document (the sandboxed frame of the agent desktop): one use
case, in its own unit of work."""

from __future__ import annotations

import base64

from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.platform.errors import NotFound
from raccordo.platform.files import FileStore
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain import html_view
from raccordo.record.models import Attachment, Message
from raccordo.record.services.records import get_owned

MAX_INLINE_IMAGE_BYTES = 5 * 1024 * 1024


def message_document(
    sessions: sessionmaker[Session],
    files: FileStore,
    actor: Actor,
    message_id: int,
    *,
    allow_remote: bool,
    hide_quoted: bool,
) -> str:
    """The sanitized HTML of a message as a whole document: remote images blocked unless allowed,
    ``cid:`` images inlined from the message's attachments (images up to 5 MiB)."""
    actor.require(Permission.READ)
    with unit_of_work(sessions) as session:
        message = get_owned(session, Message, actor.tenant_id, message_id)
        body = message.html
        if hide_quoted and message.content_attributes.get("html_main"):
            body = message.content_attributes["html_main"]
        if not body:
            raise NotFound("message.no_html")
        inline = {
            a.content_id: a
            for a in session.query(Attachment).filter(
                Attachment.message_id == message.id, Attachment.content_id.is_not(None)
            )
        }

        def resolve(content_id: str) -> str | None:
            attachment = inline.get(content_id)
            if (
                attachment is None
                or attachment.size > MAX_INLINE_IMAGE_BYTES
                or not attachment.content_type.startswith("image/")
            ):
                return None
            data = files.path(attachment.storage_path).read_bytes()
            return f"data:{attachment.content_type};base64,{base64.b64encode(data).decode()}"

        return html_view.document(html_view.isolate_images(body, allow_remote=allow_remote, resolve_cid=resolve))
