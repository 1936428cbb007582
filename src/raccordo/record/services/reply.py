"""Agent replies and internal notes. A reply is stored and queued in the outbox in one transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.accounts.models import User
from raccordo.channels.base import Channel, PreparedContent, get_channel
from raccordo.channels.domain.reach import first_reachable
from raccordo.channels.models import Inbox, OutboxItem
from raccordo.channels.services.reach import ranked_routes
from raccordo.desk.domain.mentions import find_mentions
from raccordo.desk.services import composer
from raccordo.desk.services import inbox as inbox_access
from raccordo.platform.domain_events import record
from raccordo.platform.errors import InvalidInput
from raccordo.platform.events import emit, emit_message
from raccordo.platform.files import FileStore
from raccordo.record.domain.content import html_to_text, sanitize_html
from raccordo.record.domain.conversations import ConversationStatus
from raccordo.record.domain.events import ReplySent
from raccordo.record.domain.messages import DeliveryStatus, Direction, SenderType, TimelineKind
from raccordo.record.models import Attachment, Contact, ContactIdentity, Conversation, Message
from raccordo.record.services.records import add_timeline, get_owned


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


def _store_attachments(
    session: Session, files: FileStore, tenant_id: int, message_id: int, uploads: list[UploadedFile]
) -> None:
    for upload in uploads:
        relative, digest = files.put(tenant_id, upload.data)
        session.add(
            Attachment(
                tenant_id=tenant_id,
                message_id=message_id,
                filename=upload.filename[:300],
                content_type=upload.content_type[:200],
                size=len(upload.data),
                sha256=digest,
                storage_path=relative,
            )
        )


def reply_recipient(
    session: Session, tenant_id: int, contact_id: int, identity_kinds: tuple[str, ...]
) -> ContactIdentity | None:
    identities = list(
        session.scalars(
            select(ContactIdentity).where(
                ContactIdentity.tenant_id == tenant_id, ContactIdentity.contact_id == contact_id
            )
        )
    )
    for kind in identity_kinds:
        for identity in identities:
            if identity.kind == kind:
                return identity
    return None


def _default_inbox_id(session: Session, conversation: Conversation) -> int | None:
    """The composer's choice: the first inbox a free-form reply reaches the customer on. With none, the
    customer's last inbox, as before: the reply is refused there with the precise reason (window,
    identity), or stored and its failed delivery shown to the agent, never dropped."""
    best = first_reachable(ranked_routes(session, conversation))
    return best.inbox_id if best is not None else conversation.last_inbox_id


def contact_facts(session: Session, conversation: Conversation) -> dict[str, Any]:
    """What a channel may read of the contact to check or prefill structured content (a template's
    variables, the consent a marketing template needs)."""
    contact = session.get_one(Contact, conversation.contact_id)
    name = (contact.name or "").strip()
    return {
        "name": name,
        "first_name": name.split()[0] if name else "",
        "consent": dict(contact.consent or {}),
        "conversation_id": conversation.id,
    }


def _prepared(
    session: Session, channel: Channel, inbox: Inbox, conversation: Conversation, attributes: dict[str, Any]
) -> PreparedContent | None:
    """The channel's check of structured content, and the consent it asks for (a marketing template)."""
    if not attributes:
        return None
    facts = contact_facts(session, conversation)
    prepared = channel.prepare_content(inbox.settings or {}, attributes, facts)
    if prepared is not None and prepared.consent_purpose:
        decision = facts["consent"].get(prepared.consent_purpose)
        if not (isinstance(decision, dict) and decision.get("granted")):
            raise InvalidInput("reply.consent_required", field="content_attributes", purpose=prepared.consent_purpose)
    return prepared


def send_reply(
    session: Session,
    files: FileStore,
    actor: Actor,
    conversation_id: int,
    *,
    text: str,
    html: str | None = None,
    inbox_id: int | None = None,
    attachments: list[UploadedFile] | None = None,
    max_attachment_bytes: int,
    automatic: bool = False,
    content_attributes: dict[str, Any] | None = None,
) -> Message:
    """Store an outbound message on the chosen inbox (default: the first that reaches the customer, as the
    composer ranks them: ``channels/services/reach.py``) and queue it for delivery.

    ``automatic`` (an out-of-hours notice, say) is not an answer: it does not count as the
    first response, for routing or for the SLA clocks. ``content_attributes`` is structured content
    the channel sends (a WhatsApp template, interactive buttons): the channel checks it
    (``Channel.prepare_content``) and gives the text the customer will read, which is stored."""
    actor.require(Permission.WORK)
    attachments = attachments or []
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id, lock=True)
    inbox_access.require_can_act(session, actor, conversation)
    if conversation.status == ConversationStatus.CLOSED.value:
        raise InvalidInput("reply.conversation_closed", field="conversation_id")
    chosen_inbox_id = inbox_id if inbox_id is not None else _default_inbox_id(session, conversation)
    if chosen_inbox_id is None:
        raise InvalidInput("reply.inbox_required", field="inbox_id")
    inbox = get_owned(session, Inbox, actor.tenant_id, chosen_inbox_id)
    if not inbox.active:
        raise InvalidInput("reply.inbox_inactive", field="inbox_id", name=inbox.name)
    channel = get_channel(inbox.channel)
    if channel is None:
        raise InvalidInput("channel.not_installed", field="inbox_id", channel=inbox.channel)
    caps = channel.capabilities
    prepared = _prepared(session, channel, inbox, conversation, content_attributes or {})
    clean_html = sanitize_html(html) if caps.html and prepared is None else None
    body = prepared.text if prepared else text or (html_to_text(clean_html) if clean_html else "")
    if not body.strip() and not attachments:
        raise InvalidInput("reply.empty", field="text")
    if prepared is not None and attachments:
        raise InvalidInput("reply.content_with_files", field="attachments")
    # The channel's composer rules (length, attachments, message window), declared in its module.
    composer.enforce(
        session,
        conversation,
        inbox,
        channel,
        body,
        attachments,
        max_attachment_bytes,
        outside_window=prepared is not None and prepared.outside_window,
    )
    recipient = reply_recipient(session, actor.tenant_id, conversation.contact_id, channel.reply_identity_kinds)
    if recipient is None:
        raise InvalidInput("reply.no_recipient", field="inbox_id", channel=inbox.channel)
    now = datetime.now(UTC)
    message = Message(
        tenant_id=actor.tenant_id,
        conversation_id=conversation.id,
        direction=Direction.OUTBOUND.value,
        channel=inbox.channel,
        inbox_id=inbox.id,
        sender_type=SenderType.USER.value if actor.user_id else SenderType.SYSTEM.value,
        sender_id=actor.user_id,
        text=body,
        html=clean_html,
        content_attributes={
            **(prepared.attributes if prepared else {}),
            "recipient": {"kind": recipient.kind, "value": recipient.value},
            **({"automatic": True} if automatic else {}),
        },
        delivery_status=DeliveryStatus.QUEUED.value,
        created_at=now,
    )
    session.add(message)
    session.flush()
    _store_attachments(session, files, actor.tenant_id, message.id, attachments)
    session.add(
        OutboxItem(
            tenant_id=actor.tenant_id,
            message_id=message.id,
            inbox_id=inbox.id,
            idempotency_key=uuid.uuid4().hex,
            due_at=now,
        )
    )
    first_response = not automatic and conversation.first_response_at is None
    if first_response:
        conversation.first_response_at = now
    # Routing notes the first response; SLA meets the response clocks (bootstrap.subscriptions).
    record(
        session,
        ReplySent(
            actor.tenant_id,
            conversation.id,
            message.id,
            actor.user_id,
            now,
            automatic=automatic,
            first_response=first_response,
        ),
    )
    conversation.last_activity_at = now
    add_timeline(
        session,
        actor.tenant_id,
        conversation.contact_id,
        TimelineKind.MESSAGE,
        conversation_id=conversation.id,
        actor_type=actor.actor_type,
        actor_id=actor.user_id,
        data={"message_id": message.id, "direction": "outbound", "channel": inbox.channel},
    )
    session.flush()
    emit_message(session, message, conversation)
    emit(session, actor.tenant_id, "outbox.queued", {"message_id": message.id})
    return message


def add_note(
    session: Session,
    files: FileStore,
    actor: Actor,
    conversation_id: int,
    *,
    text: str,
    attachments: list[UploadedFile] | None = None,
    max_attachment_bytes: int,
) -> Message:
    """An internal note: never sent to the customer. ``@name`` in it notifies that user (``mention.created``)."""
    actor.require(Permission.WORK)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id)
    if not text.strip():
        raise InvalidInput("reply.empty", field="text")
    for index, upload in enumerate(attachments or []):
        if len(upload.data) > max_attachment_bytes:
            raise InvalidInput(
                "attachment.too_large",
                field=f"attachments.{index}",
                filename=upload.filename,
                limit=max_attachment_bytes,
            )
    note = Message(
        tenant_id=actor.tenant_id,
        conversation_id=conversation.id,
        direction=Direction.NOTE.value,
        sender_type=SenderType.USER.value if actor.user_id else SenderType.SYSTEM.value,
        sender_id=actor.user_id,
        text=text,
        delivery_status=DeliveryStatus.NOT_APPLICABLE.value,
    )
    # Only a note with an "@" can mention anyone: skip loading the tenant's users otherwise.
    people = (
        [
            (u.id, u.name, u.email)
            for u in session.scalars(select(User).where(User.tenant_id == actor.tenant_id, User.active.is_(True)))
        ]
        if "@" in text
        else []
    )
    mentioned = [user_id for user_id in find_mentions(text, people) if user_id != actor.user_id]
    if mentioned:
        note.content_attributes = {"mentions": mentioned}
    session.add(note)
    session.flush()
    _store_attachments(session, files, actor.tenant_id, note.id, attachments or [])
    add_timeline(
        session,
        actor.tenant_id,
        conversation.contact_id,
        TimelineKind.NOTE,
        conversation_id=conversation.id,
        actor_type=actor.actor_type,
        actor_id=actor.user_id,
        data={"message_id": note.id},
    )
    session.flush()
    emit_message(session, note, conversation)
    author = next((name for user_id, name, _ in people if user_id == actor.user_id), None)
    for user_id in mentioned:
        # Addressed to the mentioned user (and, like every event, visible to supervisors).
        emit(
            session,
            actor.tenant_id,
            "mention.created",
            {
                "conversation_id": conversation.id,
                "message_id": note.id,
                "by_user_id": actor.user_id,
                "by_name": author,
                "text": text[:300],
            },
            conversation_id=conversation.id,
            contact_id=conversation.contact_id,
            user_id=user_id,
        )
    return note
