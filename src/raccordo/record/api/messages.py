"""A message's HTML as an isolated document, for a sandboxed frame in the agent desktop."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from raccordo.accounts.api.deps import ActorDep, runtime, transaction
from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.platform.errors import NotFound
from raccordo.record.models import Attachment, Message
from raccordo.platform.web import schemas
from raccordo.record.domain import html_view
from raccordo.record.services.records import get_owned

router = APIRouter(prefix="/api/v1", tags=["conversations"])

MAX_INLINE_IMAGE_BYTES = 5 * 1024 * 1024


@router.get("/messages/{message_id}/html", response_class=HTMLResponse)
def message_html(
    message_id: schemas.PathId,
    request: Request,
    actor: Actor = ActorDep,
    remote_images: str = Query("block", pattern="^(block|allow)$", description="`allow` loads remote images (the agent chose to show them)."),
    quoted: str = Query("show", pattern="^(show|hide)$", description="`hide` leaves out the quoted history when the message has it split."),
) -> HTMLResponse:
    """The sanitized HTML of a message as a whole document: remote images blocked unless allowed,
    ``cid:`` images inlined from the message's attachments. Served with a CSP that runs no script
    and sandboxes the document; show it in ``<iframe sandbox="allow-popups" src="...">``."""
    actor.require(Permission.READ)
    rt = runtime(request)
    with transaction(request) as session:
        message = get_owned(session, Message, actor.tenant_id, message_id)
        body = message.html
        if quoted == "hide" and message.content_attributes.get("html_main"):
            body = message.content_attributes["html_main"]
        if not body:
            raise NotFound("message.no_html")
        inline = {a.content_id: a for a in session.query(Attachment).filter(Attachment.message_id == message.id, Attachment.content_id.is_not(None))}

        def resolve(content_id: str) -> str | None:
            attachment = inline.get(content_id)
            if attachment is None or attachment.size > MAX_INLINE_IMAGE_BYTES or not attachment.content_type.startswith("image/"):
                return None
            data = rt.files.path(attachment.storage_path).read_bytes()
            return f"data:{attachment.content_type};base64,{base64.b64encode(data).decode()}"

        rendered = html_view.isolate_images(body, allow_remote=remote_images == "allow", resolve_cid=resolve)
    headers = {
        "Content-Security-Policy": html_view.content_security_policy(remote_images == "allow"),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "private, no-store",
    }
    return HTMLResponse(html_view.document(rendered), headers=headers)
