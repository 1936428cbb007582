"""The inboxes that can reach a conversation's customer, ranked (``channels/domain/reach.py``), read from
the tenant's inboxes, the contact's identities and consent and the conversation's messages. The
composer shows the ranking; the reply service takes its first choice when no inbox is named."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from raccordo.channels.base import Channel, get_channel
from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.domain.reach import Reach, ReplyRoute, rank_reply_routes
from raccordo.channels.models import Inbox
from raccordo.platform.secretbox import secret_names
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


def _unaddressable(channel: Channel, settings: dict[str, object], identities: list[tuple[str, str]]) -> frozenset[str]:
    """The contact's identity kinds this inbox could write to but none of whose values it can address."""
    kinds = set()
    for kind in channel.reply_identity_kinds:
        values = [value for has, value in identities if has == kind]
        if values and not any(channel.can_address(settings, value) for value in values):
            kinds.add(kind)
    return frozenset(kinds)


def reply_routes(
    session: Session,
    conversation: Conversation,
    inboxes: list[Inbox] | None = None,
    last_inbound: dict[int, datetime] | None = None,
    identities: list[tuple[str, str]] | None = None,
) -> list[ReplyRoute]:
    """Every inbox of the conversation's tenant (or the ``inboxes`` given, already read) as the ranking
    sees it; ``last_inbound`` (the customer's last message per inbox) and the contact's ``identities``
    (kind, value) are read here unless given."""
    if identities is None:
        identities = contact_identities(session, conversation)
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
                delivers=channel is not None
                and channel.can_deliver(settings, secret_names(session, inbox.secrets_encrypted)),
                reply_identity_kinds=channel.reply_identity_kinds if channel else (),
                rules=channel.composer_rules(settings) if channel else ComposerRules(),
                unaddressable_kinds=_unaddressable(channel, settings, identities) if channel else frozenset(),
                last_inbound_at=last.replace(tzinfo=UTC) if last is not None and last.tzinfo is None else last,
                # The record's consent purposes are named per channel (marketing_whatsapp, marketing_sms...).
                marketing_consent=_granted(contact.consent if contact else None, f"marketing_{inbox.channel}"),
            )
        )
    return routes


def contact_identities(session: Session, conversation: Conversation) -> list[tuple[str, str]]:
    """The conversation's contact's identities as (kind, value)."""
    rows = session.execute(
        select(ContactIdentity.kind, ContactIdentity.value).where(
            ContactIdentity.tenant_id == conversation.tenant_id,
            ContactIdentity.contact_id == conversation.contact_id,
        )
    )
    return [(kind, value) for kind, value in rows]


def ranked_routes(
    session: Session,
    conversation: Conversation,
    inboxes: list[Inbox] | None = None,
    *,
    identities: list[tuple[str, str]] | None = None,
    last_inbound: dict[int, datetime] | None = None,
    now: datetime | None = None,
) -> list[Reach]:
    """Every inbox of the tenant for a reply in ``conversation``, the ones that will reach the customer
    first. ``inboxes``, the contact's ``identities`` (kind, value) and the customer's ``last_inbound``
    message per inbox are read here unless the caller has them."""
    if identities is None:
        identities = contact_identities(session, conversation)
    return rank_reply_routes(
        reply_routes(session, conversation, inboxes, last_inbound, identities),
        {kind for kind, _ in identities},
        last_inbox_id=conversation.last_inbox_id,
        now=now or datetime.now(UTC),
    )
