"""The inboxes that can reach a conversation's customer, ranked (``channels/domain/reach.py``), read from
the tenant's inboxes, the contact's identities and consent and the conversation's messages. The
composer shows the ranking; the reply service takes its first choice when no inbox is named."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raccordo.channels.base import get_channel
from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.domain.reach import Reach, ReplyRoute, rank_reply_routes
from raccordo.channels.models import Inbox
from raccordo.record.domain.messages import Direction
from raccordo.record.models import Contact, ContactIdentity, Conversation, Message


def _granted(consent: dict[str, object] | None, purpose: str) -> bool:
    decision = (consent or {}).get(purpose)
    return isinstance(decision, dict) and bool(decision.get("granted"))


def last_inbound_by_inbox(messages: list[Message]) -> dict[int, datetime]:
    """The customer's last message per inbox, from the whole thread a caller has already read."""
    last: dict[int, datetime] = {}
    for message in messages:
        if message.direction == Direction.INBOUND.value and message.inbox_id is not None:
            at = last.get(message.inbox_id)
            last[message.inbox_id] = message.created_at if at is None else max(at, message.created_at)
    return last


def reply_routes(
    session: Session,
    conversation: Conversation,
    inboxes: list[Inbox] | None = None,
    last_inbound: dict[int, datetime] | None = None,
) -> list[ReplyRoute]:
    """Every inbox of the conversation's tenant (or the ``inboxes`` given, already read) as the ranking
    sees it; ``last_inbound`` (the customer's last message per inbox) is read here unless given."""
    tenant_id = conversation.tenant_id
    if inboxes is None:
        inboxes = list(session.scalars(select(Inbox).where(Inbox.tenant_id == tenant_id).order_by(Inbox.id)))
    contact = session.get(Contact, conversation.contact_id)
    last_by_inbox = last_inbound
    if last_by_inbox is None:
        last_by_inbox = {
            inbox_id: at
            for inbox_id, at in session.execute(
                select(Message.inbox_id, func.max(Message.created_at))
                .where(
                    Message.tenant_id == tenant_id,
                    Message.conversation_id == conversation.id,
                    Message.direction == Direction.INBOUND.value,
                    Message.inbox_id.is_not(None),
                )
                .group_by(Message.inbox_id)
            )
            if inbox_id is not None  # the query leaves them out; the column's type allows them
        }
    routes = []
    for inbox in inboxes:
        channel = get_channel(inbox.channel)
        settings = inbox.settings or {}
        last = last_by_inbox.get(inbox.id)
        routes.append(
            ReplyRoute(
                inbox_id=inbox.id,
                name=inbox.name,
                channel=inbox.channel,
                active=inbox.active,
                delivers=channel is not None and channel.can_deliver(settings),
                reply_identity_kinds=channel.reply_identity_kinds if channel else (),
                rules=channel.composer_rules(settings) if channel else ComposerRules(),
                last_inbound_at=last.replace(tzinfo=UTC) if last is not None and last.tzinfo is None else last,
                # The record's consent purposes are named per channel (marketing_whatsapp, marketing_sms...).
                marketing_consent=_granted(contact.consent if contact else None, f"marketing_{inbox.channel}"),
            )
        )
    return routes


def identity_kinds(session: Session, conversation: Conversation) -> set[str]:
    return set(
        session.scalars(
            select(ContactIdentity.kind).where(
                ContactIdentity.tenant_id == conversation.tenant_id,
                ContactIdentity.contact_id == conversation.contact_id,
            )
        )
    )


def ranked_routes(
    session: Session,
    conversation: Conversation,
    inboxes: list[Inbox] | None = None,
    *,
    kinds: set[str] | None = None,
    last_inbound: dict[int, datetime] | None = None,
    now: datetime | None = None,
) -> list[Reach]:
    """Every inbox of the tenant for a reply in ``conversation``, the ones that will reach the customer
    first. ``inboxes``, the contact's identity ``kinds`` and the customer's ``last_inbound`` message per
    inbox are read here unless the caller has them."""
    return rank_reply_routes(
        reply_routes(session, conversation, inboxes, last_inbound),
        identity_kinds(session, conversation) if kinds is None else kinds,
        last_inbox_id=conversation.last_inbox_id,
        now=now or datetime.now(UTC),
    )
