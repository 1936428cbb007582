"""A message's HTML as an isolated document, for a sandboxed frame in the agent desktop."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from raccordo.accounts.api.deps import ActorDep, runtime
from raccordo.accounts.domain.actor import Actor
from raccordo.platform.web import schemas
from raccordo.record.domain import html_view
from raccordo.record.services.message_html import message_document

router = APIRouter(prefix="/api/v1", tags=["conversations"])


@router.get("/messages/{message_id}/html", response_class=HTMLResponse)
def message_html(
    message_id: schemas.PathId,
    request: Request,
    actor: Actor = ActorDep,
    remote_images: str = Query(
        "block", pattern="^(block|allow)$", description="`allow` loads remote images (the agent chose to show them)."
    ),
    quoted: str = Query(
        "show",
        pattern="^(show|hide)$",
        description="`hide` leaves out the quoted history when the message has it split.",
    ),
) -> HTMLResponse:
    """The sanitized HTML of a message as a whole document: remote images blocked unless allowed,
    ``cid:`` images inlined from the message's attachments. Served with a CSP that runs no script
    and sandboxes the document; show it in ``<iframe sandbox="allow-popups" src="...">``."""
    rt = runtime(request)
    document = message_document(
        rt.sessions, rt.files, actor, message_id, allow_remote=remote_images == "allow", hide_quoted=quoted == "hide"
    )
    headers = {
        "Content-Security-Policy": html_view.content_security_policy(remote_images == "allow"),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "private, no-store",
    }
    return HTMLResponse(document, headers=headers)
