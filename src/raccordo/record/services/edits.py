"""A customer's edit of a message received earlier (an ``InboundEvent`` with ``edit_id``): the stored
message takes the new text, and the text it had is kept in its edit history.

The history is ``content_attributes.edits``: one entry per edit, oldest first, with the text and
HTML the message had before it, when the customer edited it and the edit's id. An edit whose id is
recorded already (a provider's retry) changes nothing, so the edit is applied once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.channels.base import InboundEvent
from raccordo.channels.models import Inbox
from raccordo.platform.events import emit_message
from raccordo.record.domain.content import html_to_text, sanitize_html
from raccordo.record.models import Conversation, Message


def apply_edit(
    session: Session, inbox: Inbox, event: InboundEvent, now: datetime
) -> tuple[Message, Conversation, bool] | None:
    """The edited message, its conversation and whether the edit was recorded before (a retry); None
    when the inbox has no message with that provider id (the caller stores the edit as a message)."""
    edit_id = str(event.edit_id or "")
    message = session.scalars(
        select(Message).where(
            Message.tenant_id == inbox.tenant_id,
            Message.inbox_id == inbox.id,
            Message.provider_message_id == event.provider_message_id,
        )
    ).one_or_none()
    if message is None:
        return None
    conversation = session.get_one(Conversation, message.conversation_id)
    history = list(message.content_attributes.get("edits") or [])
    if any(entry.get("edit_id") == edit_id for entry in history):
        return message, conversation, True
    history.append(
        {
            "edit_id": edit_id,
            "previous_text": message.text,
            "previous_html": message.html,
            "edited_at": (event.sent_at or now).isoformat(),
        }
    )
    html = sanitize_html(event.html)
    message.text = event.text or (html_to_text(html) if html else "")
    message.html = html
    message.content_attributes = {**message.content_attributes, "edits": history, "edited": True}
    session.flush()
    emit_message(session, message, conversation, "message.updated")
    return message, conversation, False
