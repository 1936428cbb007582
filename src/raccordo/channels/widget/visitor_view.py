"""What a widget's visitor sees: the customer-visible messages (not notes) of their contact's
conversations that went through this widget, on any channel (an agent's reply appears once the
outbox has recorded it sent), the files on them, and the read receipts both ways: the visitor's
browser marks agents' messages delivered and read, an agent's reading shows the visitor "seen".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.models import User
from raccordo.channels.widget.sessions import Visitor, visitor_contact
from raccordo.platform.errors import NotFound
from raccordo.platform.events import emit_conversation, emit_message, when
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain.messages import DeliveryStatus, Direction
from raccordo.record.models import Attachment, Conversation, Message
from raccordo.record.services.records import get_owned

Sessions = sessionmaker[Session]
VISIBLE_TO_VISITOR = (DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value, DeliveryStatus.READ.value)
HISTORY_LIMIT = 200


def widget_conversation_ids(session: Session, inbox_id: int, contact_id: int) -> list[int]:
    """The contact's conversations that had a message through this widget inbox (the visitor sees those)."""
    return list(
        session.scalars(
            select(Message.conversation_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.inbox_id == inbox_id, Conversation.contact_id == contact_id)
            .distinct()
        )
    )


def message_view(message: Message, sender_names: dict[int, str]) -> dict[str, Any]:
    inbound = message.direction == Direction.INBOUND.value
    client_id = (message.content_attributes.get("widget") or {}).get("client_message_id") if inbound else None
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "from": "visitor" if inbound else "agent",
        "text": message.text,
        "created_at": when(message.created_at),
        "sender_name": None if inbound else sender_names.get(message.sender_id or 0),
        "client_id": client_id,
        "channel": message.channel,
        "status": message.delivery_status,
        "attachments": [
            {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size}
            for a in message.attachments
        ],
    }


@dataclass
class View:
    """What a visitor socket has been shown: messages after ``cursor`` not yet in ``shown``."""

    cursor: int = 0
    shown: set[int] | None = None
    contact_id: int | None = None
    conversation_ids: tuple[int, ...] = ()
    agent_seen_at: str | None = None


def updates(
    rt: Runtime, visitor: Visitor, view: View, *, history: bool = False
) -> tuple[list[dict[str, Any]], list[int]]:
    """New visible messages since the view's cursor (the last ``HISTORY_LIMIT`` with ``history``),
    advancing the view; and the ids of agent messages shown now for the first time."""
    shown = view.shown if view.shown is not None else set()
    view.shown = shown
    with unit_of_work(rt.sessions) as session:
        contact = visitor_contact(session, visitor.tenant_id, visitor.visitor_id)
        if contact is None:
            return [], []
        view.contact_id = contact.id
        conversation_ids = widget_conversation_ids(session, visitor.inbox_id, contact.id)
        view.conversation_ids = tuple(conversation_ids)
        if not conversation_ids:
            return [], []
        base = select(Message).where(
            Message.conversation_id.in_(conversation_ids),
            Message.direction.in_((Direction.INBOUND.value, Direction.OUTBOUND.value)),
        )
        if history:
            rows = list(session.scalars(base.order_by(Message.id.desc()).limit(HISTORY_LIMIT)))
            rows.reverse()
        else:
            rows = list(session.scalars(base.where(Message.id > view.cursor).order_by(Message.id).limit(HISTORY_LIMIT)))
        names = dict(
            session.execute(
                select(User.id, User.name).where(
                    User.tenant_id == visitor.tenant_id, User.id.in_({m.sender_id for m in rows if m.sender_id})
                )
            ).all()
        )
        frames: list[dict[str, Any]] = []
        fresh: list[int] = []
        final = True
        for message in rows:
            visible = message.direction == Direction.INBOUND.value or message.delivery_status in VISIBLE_TO_VISITOR
            pending = message.direction == Direction.OUTBOUND.value and message.delivery_status in (
                DeliveryStatus.QUEUED.value,
                DeliveryStatus.SENDING.value,
            )
            if visible and message.id not in shown:
                shown.add(message.id)
                frames.append({"type": "message", "message": message_view(message, names)})
                if message.direction == Direction.OUTBOUND.value:
                    fresh.append(message.id)
            # The cursor moves over messages in their final state only: a queued reply is looked at again.
            final = final and not pending
            if final:
                view.cursor = max(view.cursor, message.id)
        latest = session.scalar(
            select(func.max(Conversation.agent_last_seen_at)).where(Conversation.id.in_(conversation_ids))
        )
        seen = when(latest)
        if seen and seen != view.agent_seen_at:
            view.agent_seen_at = seen
            frames.append({"type": "seen", "at": seen})
        return frames, fresh


def mark_outbound(rt: Runtime, visitor: Visitor, message_ids: list[int] | None, up_to: int | None, status: str) -> int:
    """The visitor's browser got (``delivered``) or showed (``read``) agent messages on this widget."""
    order = {DeliveryStatus.SENT.value: 0, DeliveryStatus.DELIVERED.value: 1, DeliveryStatus.READ.value: 2}
    with unit_of_work(rt.sessions) as session:
        contact = visitor_contact(session, visitor.tenant_id, visitor.visitor_id)
        if contact is None:
            return 0
        conversation_ids = widget_conversation_ids(session, visitor.inbox_id, contact.id)
        query = select(Message).where(
            Message.conversation_id.in_(conversation_ids),
            Message.inbox_id == visitor.inbox_id,
            Message.direction == Direction.OUTBOUND.value,
            Message.delivery_status.in_([s for s, rank in order.items() if rank < order[status]]),
        )
        if message_ids is not None:
            query = query.where(Message.id.in_(message_ids))
        if up_to is not None:
            query = query.where(Message.id <= up_to)
        changed = list(session.scalars(query.order_by(Message.id).limit(500)))
        now = datetime.now(UTC)
        for message in changed:
            message.delivery_status = status
            conversation = session.get_one(Conversation, message.conversation_id)
            if status == DeliveryStatus.READ.value:
                conversation.contact_last_seen_at = now
            session.flush()
            emit_message(session, message, conversation, "message.updated")
        return len(changed)


def agent_seen(sessions: Sessions, actor: Actor, conversation_id: int) -> dict[str, Any]:
    """An agent read the conversation: the visitor's widget shows "seen". Returns the conversation's
    id and the time it was seen (ISO 8601), as the API answers them."""
    actor.require(Permission.WORK)
    with unit_of_work(sessions) as session:
        conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
        conversation.agent_last_seen_at = datetime.now(UTC)
        session.flush()
        emit_conversation(session, conversation, "conversation.updated")
        seen = conversation.agent_last_seen_at
        return {"conversation_id": conversation.id, "agent_last_seen_at": seen.isoformat() if seen else None}


def conversation_of(rt: Runtime, visitor: Visitor) -> int | None:
    """The visitor's most recent conversation on this widget (typing indicators go to it)."""
    with unit_of_work(rt.sessions) as session:
        contact = visitor_contact(session, visitor.tenant_id, visitor.visitor_id)
        if contact is None:
            return None
        return session.scalar(
            select(Message.conversation_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.inbox_id == visitor.inbox_id, Conversation.contact_id == contact.id)
            .order_by(Message.id.desc())
            .limit(1)
        )


def attachment_for(rt: Runtime, visitor: Visitor, attachment_id: int) -> tuple[str, str, str]:
    """(path, filename, content type) of an attachment on a message the visitor can see; 404 otherwise."""
    with unit_of_work(rt.sessions) as session:
        attachment = session.get(Attachment, attachment_id)
        contact = visitor_contact(session, visitor.tenant_id, visitor.visitor_id)
        message = (
            session.get(Message, attachment.message_id) if attachment is not None and attachment.message_id else None
        )
        if attachment is None or not (
            contact is not None
            and message is not None
            and attachment.tenant_id == visitor.tenant_id
            and message.conversation_id in widget_conversation_ids(session, visitor.inbox_id, contact.id)
            and (
                message.direction == Direction.INBOUND.value
                or (message.direction == Direction.OUTBOUND.value and message.delivery_status in VISIBLE_TO_VISITOR)
            )
        ):
            raise NotFound("error.not_found_id", kind="attachments", id=attachment_id)
        return str(rt.files.path(attachment.storage_path)), attachment.filename, attachment.content_type
