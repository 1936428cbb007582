"""Channel-agnostic ingest: normalized inbound event → identity → conversation → message → timeline.

Idempotent: the same provider message id in the same inbox returns the message stored
the first time and writes nothing. Runs inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.adapters.channels.base import InboundEvent
from raccordo.adapters.files import FileStore
from raccordo.adapters.store.models import Attachment, Contact, Conversation, Inbox, Message, Tenant
from raccordo.domain.content import html_to_text, sanitize_html
from raccordo.domain.conversations import ContinuityPolicy, ConversationStatus, ConversationSummary, choose_conversation
from raccordo.domain.errors import InvalidInput
from raccordo.domain.messages import DeliveryStatus, Direction, SenderType, TimelineKind
from raccordo.services.events import emit_conversation, emit_message
from raccordo.services.identity import IdentityInput, resolve_contact
from raccordo.services.records import add_timeline


@dataclass
class IngestResult:
    message: Message
    conversation: Conversation
    duplicate: bool
    contact_created: bool = False
    conversation_created: bool = False


def continuity_policy(tenant: Tenant) -> ContinuityPolicy:
    settings = tenant.settings.get("continuity", {}) if tenant.settings else {}
    return ContinuityPolicy(
        across_channels=bool(settings.get("across_channels", True)),
        reopen_window=timedelta(hours=float(settings.get("reopen_window_hours", 168))),
    )


def ingest_event(session: Session, files: FileStore, inbox: Inbox, event: InboundEvent, *, max_attachment_bytes: int, now: datetime | None = None) -> IngestResult:
    now = now or datetime.now(UTC)
    existing = session.scalars(
        select(Message).where(Message.inbox_id == inbox.id, Message.provider_message_id == event.provider_message_id)
    ).one_or_none()
    if existing is not None:
        return IngestResult(existing, session.get(Conversation, existing.conversation_id), duplicate=True)  # type: ignore[arg-type]
    for index, attachment in enumerate(event.attachments):
        if len(attachment.data) > max_attachment_bytes:
            raise InvalidInput("attachment.too_large", field=f"attachments.{index}", filename=attachment.filename, limit=max_attachment_bytes)
    tenant = session.get(Tenant, inbox.tenant_id)
    assert tenant is not None
    resolution = resolve_contact(
        session,
        tenant.id,
        [IdentityInput(i.kind, i.value, i.verified) for i in event.identities],
        region=tenant.default_region,
        name=event.contact_name,
        language=event.contact_language,
    )
    contact = resolution.contact
    # Serialize messages of one contact (PostgreSQL row lock; SQLite serializes writers already),
    # so two concurrent first messages cannot open two conversations.
    session.execute(select(Contact.id).where(Contact.id == contact.id).with_for_update())
    candidates = session.scalars(
        select(Conversation)
        .where(Conversation.tenant_id == tenant.id, Conversation.contact_id == contact.id, Conversation.status != ConversationStatus.CLOSED.value)
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
        .limit(20)
    ).all()
    decision = choose_conversation(
        [ConversationSummary(c.id, ConversationStatus(c.status), c.last_inbox_id, c.resolved_at, c.last_activity_at) for c in candidates],
        inbox.id,
        now,
        continuity_policy(tenant),
    )
    created = decision.conversation_id is None
    if created:
        conversation = Conversation(
            tenant_id=tenant.id,
            contact_id=contact.id,
            status=ConversationStatus.OPEN.value,
            subject=event.subject,
            last_channel=inbox.channel,
            last_inbox_id=inbox.id,
            custom_attributes=dict(event.attributes),
            created_at=now,
            last_activity_at=now,
        )
        session.add(conversation)
        session.flush()
        add_timeline(session, tenant.id, contact.id, TimelineKind.CONVERSATION_CREATED, conversation_id=conversation.id, actor_type="contact", actor_id=contact.id, at=now, data={"channel": inbox.channel, "inbox_id": inbox.id})
    else:
        conversation = next(c for c in candidates if c.id == decision.conversation_id)
        if decision.reopen:
            add_timeline(session, tenant.id, contact.id, TimelineKind.CONVERSATION_REOPENED, conversation_id=conversation.id, actor_type="contact", actor_id=contact.id, at=now)
            conversation.resolved_at = None
        if conversation.last_inbox_id != inbox.id:
            add_timeline(
                session, tenant.id, contact.id, TimelineKind.CHANNEL_SWITCH, conversation_id=conversation.id, actor_type="contact", actor_id=contact.id, at=now,
                data={"from_channel": conversation.last_channel, "to_channel": inbox.channel, "from_inbox_id": conversation.last_inbox_id, "to_inbox_id": inbox.id},
            )
        if event.attributes:
            conversation.custom_attributes = {**conversation.custom_attributes, **event.attributes}
        # A customer writing again wakes a pending, snoozed or resolved conversation.
        if conversation.status != ConversationStatus.OPEN.value:
            conversation.status = ConversationStatus.OPEN.value
            conversation.snoozed_until = None
        conversation.last_channel, conversation.last_inbox_id = inbox.channel, inbox.id
        conversation.subject = conversation.subject or event.subject
    html = sanitize_html(event.html)
    text = event.text or (html_to_text(html) if html else "")
    message = Message(
        tenant_id=tenant.id,
        conversation_id=conversation.id,
        direction=Direction.INBOUND.value,
        channel=inbox.channel,
        inbox_id=inbox.id,
        sender_type=SenderType.CONTACT.value,
        sender_id=contact.id,
        text=text,
        html=html,
        content_attributes={"sent_at": event.sent_at.isoformat()} if event.sent_at else {},
        provider_message_id=event.provider_message_id,
        delivery_status=DeliveryStatus.RECEIVED.value,
        created_at=now,
    )
    session.add(message)
    session.flush()
    for attachment in event.attachments:
        relative, digest = files.put(tenant.id, attachment.data)
        session.add(
            Attachment(tenant_id=tenant.id, message_id=message.id, filename=attachment.filename[:300], content_type=attachment.content_type[:200], size=len(attachment.data), sha256=digest, storage_path=relative)
        )
    conversation.last_activity_at = now
    conversation.last_customer_message_at = now
    add_timeline(session, tenant.id, contact.id, TimelineKind.MESSAGE, conversation_id=conversation.id, actor_type="contact", actor_id=contact.id, at=now, data={"message_id": message.id, "direction": "inbound", "channel": inbox.channel})
    session.flush()
    emit_conversation(session, conversation, "conversation.created" if created else "conversation.updated")
    emit_message(session, message, conversation)
    return IngestResult(message, conversation, duplicate=False, contact_created=resolution.created, conversation_created=created)
