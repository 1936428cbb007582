"""Channel-agnostic ingest: normalized inbound event → identity → conversation → message → timeline.

Idempotent: the same provider message id in the same inbox returns the message stored
the first time and writes nothing. Runs inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from raccordo.accounts.models import Tenant
from raccordo.channels.base import InboundEvent
from raccordo.channels.models import Inbox
from raccordo.platform.domain_events import record
from raccordo.platform.errors import InvalidInput
from raccordo.platform.events import emit_conversation, emit_message
from raccordo.platform.files import FileStore
from raccordo.record.domain.content import html_to_text, sanitize_html
from raccordo.record.domain.conversations import (
    ContinuityPolicy,
    ConversationStatus,
    ConversationSummary,
    choose_conversation,
)
from raccordo.record.domain.events import MessageReceived
from raccordo.record.domain.messages import DeliveryStatus, Direction, SenderType, TimelineKind
from raccordo.record.models import Attachment, Contact, Conversation, Message
from raccordo.record.services.edits import apply_edit
from raccordo.record.services.identity import IdentityInput, resolve_contact
from raccordo.record.services.records import TimelineRows


class IngestIgnored(Exception):
    """An automated message (auto-reply, vacation notice) with no conversation to join: nothing is stored."""


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


# The contact's conversations a message may continue, built once (every returning customer's message runs it).
_OPEN_CONVERSATIONS = (
    select(Conversation)
    .where(
        Conversation.tenant_id == bindparam("tenant_id"),
        Conversation.contact_id == bindparam("contact_id"),
        Conversation.status != ConversationStatus.CLOSED.value,
    )
    .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
    .limit(20)
)


def ingest_event(
    session: Session,
    files: FileStore,
    inbox: Inbox,
    event: InboundEvent,
    *,
    max_attachment_bytes: int,
    now: datetime | None = None,
    check_duplicate: bool = True,
) -> IngestResult:
    """``check_duplicate=False`` skips the look-up of the provider id for a caller that retries the
    whole transaction on ``IntegrityError``: a duplicate then fails on the unique
    ``(inbox_id, provider_message_id)`` index, everything is rolled back, and the retry (with the
    look-up) returns the message stored the first time."""
    now = now or datetime.now(UTC)
    if event.edit_id is not None:
        edited = apply_edit(session, inbox, event, now)
        if edited is not None:
            return IngestResult(edited[0], edited[1], duplicate=edited[2])
        # The message edited is not stored (written before the inbox existed): kept as a message.
        check_duplicate = True
    existing = (
        session.scalars(
            select(Message).where(
                Message.inbox_id == inbox.id, Message.provider_message_id == event.provider_message_id
            )
        ).one_or_none()
        if check_duplicate or event.provider_message_id is None
        else None
    )  # (no index catches a missing id)
    if existing is not None:
        return IngestResult(existing, session.get(Conversation, existing.conversation_id), duplicate=True)  # type: ignore[arg-type]
    for index, attachment in enumerate(event.attachments):
        if len(attachment.data) > max_attachment_bytes:
            raise InvalidInput(
                "attachment.too_large",
                field=f"attachments.{index}",
                filename=attachment.filename,
                limit=max_attachment_bytes,
            )
    tenant = session.get(Tenant, inbox.tenant_id)
    assert tenant is not None
    postgresql = session.get_bind().dialect.name == "postgresql"
    # Every timeline event of this message (the contact's, the conversation's, the message's)
    # goes out in one INSERT once the rows they point to are flushed.
    timeline = TimelineRows(at=now)
    resolution = resolve_contact(
        session,
        tenant.id,
        [IdentityInput(i.kind, i.value, i.verified) for i in event.identities],
        region=tenant.default_region,
        name=event.contact_name,
        language=event.contact_language,
        timeline=timeline,
        lock=postgresql,
    )
    contact = resolution.contact
    # Serialize messages of one contact (PostgreSQL row lock; SQLite serializes writers already,
    # so it needs no statement), so two concurrent first messages cannot open two conversations.
    # FOR NO KEY UPDATE: rows that merely reference the contact (a routing pass's timeline entries)
    # need not wait. The identity look-up took it already, unless it followed a merge.
    if postgresql and not resolution.created and not resolution.locked:
        session.execute(select(Contact.id).where(Contact.id == contact.id).with_for_update(key_share=True))
    # A contact created just now has no conversation yet, to continue or to thread into.
    candidates = (
        []
        if resolution.created
        else list(session.scalars(_OPEN_CONVERSATIONS, {"tenant_id": tenant.id, "contact_id": contact.id}).all())
    )
    threaded_id = (
        None if resolution.created else _threaded_conversation(session, tenant.id, contact.id, inbox.id, event)
    )
    if threaded_id is not None and all(c.id != threaded_id for c in candidates):
        threaded = session.get(Conversation, threaded_id)
        if threaded is not None and threaded.status != ConversationStatus.CLOSED.value:
            candidates.append(threaded)
    decision = choose_conversation(
        [
            ConversationSummary(c.id, ConversationStatus(c.status), c.last_inbox_id, c.resolved_at, c.last_activity_at)
            for c in candidates
        ],
        inbox.id,
        now,
        continuity_policy(tenant),
        threaded_id=threaded_id,
        automated=event.automated is not None,
    )
    if decision.ignore:
        raise IngestIgnored(event.automated)
    automated = event.automated is not None
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
            last_customer_message_at=None if automated else now,  # set now: no UPDATE of the row just inserted
        )
        session.add(conversation)
        session.flush()
        timeline.add(
            tenant.id,
            contact.id,
            TimelineKind.CONVERSATION_CREATED,
            conversation_id=conversation.id,
            actor_type="contact",
            actor_id=contact.id,
            at=now,
            data={"channel": inbox.channel, "inbox_id": inbox.id},
        )
    else:
        conversation = next(c for c in candidates if c.id == decision.conversation_id)
        if decision.reopen:
            timeline.add(
                tenant.id,
                contact.id,
                TimelineKind.CONVERSATION_REOPENED,
                conversation_id=conversation.id,
                actor_type="contact",
                actor_id=contact.id,
                at=now,
            )
            conversation.resolved_at = None
        if conversation.last_inbox_id != inbox.id:
            timeline.add(
                tenant.id,
                contact.id,
                TimelineKind.CHANNEL_SWITCH,
                conversation_id=conversation.id,
                actor_type="contact",
                actor_id=contact.id,
                at=now,
                data={
                    "from_channel": conversation.last_channel,
                    "to_channel": inbox.channel,
                    "from_inbox_id": conversation.last_inbox_id,
                    "to_inbox_id": inbox.id,
                },
            )
        if event.attributes:
            conversation.custom_attributes = {**conversation.custom_attributes, **event.attributes}
        # A customer writing again wakes a pending, snoozed or resolved conversation (an auto-reply does not).
        if conversation.status != ConversationStatus.OPEN.value and not automated:
            conversation.status = ConversationStatus.OPEN.value
            conversation.snoozed_until = None
        conversation.last_channel, conversation.last_inbox_id = inbox.channel, inbox.id
        conversation.subject = conversation.subject or event.subject
        # Before the message's flush, so the conversation gets one UPDATE with all of it.
        conversation.last_activity_at = now
        if not automated:
            conversation.last_customer_message_at = now
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
        content_attributes={
            **event.metadata,
            **({"sent_at": event.sent_at.isoformat()} if event.sent_at else {}),
            **({"automated": event.automated} if automated else {}),
        },
        provider_message_id=event.provider_message_id,
        delivery_status=DeliveryStatus.RECEIVED.value,
        created_at=now,
        search_pending=True,  # its search entry is written after the commit (desk.search_index)
    )
    session.add(message)
    session.flush()
    for attachment in event.attachments:
        relative, digest = files.put(tenant.id, attachment.data)
        session.add(
            Attachment(
                tenant_id=tenant.id,
                message_id=message.id,
                filename=attachment.filename[:300],
                content_type=attachment.content_type[:200],
                size=len(attachment.data),
                sha256=digest,
                storage_path=relative,
                content_id=attachment.content_id[:300] if attachment.content_id else None,
            )
        )
    timeline.add(
        tenant.id,
        contact.id,
        TimelineKind.MESSAGE,
        conversation_id=conversation.id,
        actor_type="contact",
        actor_id=contact.id,
        at=now,
        data={"message_id": message.id, "direction": "inbound", "channel": inbox.channel},
    )
    timeline.write(session)
    emit_conversation(session, conversation, "conversation.created" if created else "conversation.updated")
    emit_message(session, message, conversation)
    # Routing queues an open, unassigned conversation; SLA starts or resumes its clocks (bootstrap.subscriptions).
    record(
        session,
        MessageReceived(
            tenant.id,
            conversation.id,
            message.id,
            contact.id,
            inbox.id,
            now,
            automated=automated,
            conversation_created=created,
        ),
    )
    return IngestResult(
        message, conversation, duplicate=False, contact_created=resolution.created, conversation_created=created
    )


def _threaded_conversation(
    session: Session, tenant_id: int, contact_id: int, inbox_id: int, event: InboundEvent
) -> int | None:
    """The contact's conversation this message answers: by the provider ids it refers to, else the
    channel's verified hint."""
    if event.in_reply_to:
        rows = session.execute(
            select(Message.provider_message_id, Message.conversation_id).where(
                Message.inbox_id == inbox_id, Message.provider_message_id.in_(list(event.in_reply_to))
            )
        ).all()
        by_id = {provider_id: conversation_id for provider_id, conversation_id in rows}
        for provider_id in event.in_reply_to:
            conversation_id = by_id.get(provider_id)
            if conversation_id is not None and _is_contacts(session, tenant_id, contact_id, conversation_id):
                return conversation_id
    if event.conversation_hint is not None and _is_contacts(session, tenant_id, contact_id, event.conversation_hint):
        return event.conversation_hint
    return None


def _is_contacts(session: Session, tenant_id: int, contact_id: int, conversation_id: int) -> bool:
    return (
        session.scalar(
            select(Conversation.id).where(
                Conversation.id == conversation_id,
                Conversation.tenant_id == tenant_id,
                Conversation.contact_id == contact_id,
            )
        )
        is not None
    )
