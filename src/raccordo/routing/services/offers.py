"""An agent's answer to an offer (accept, decline) and the offers waiting for it. An accepted offer
assigns the conversation as the routing pass does (``routing._assign``); a decline puts the item back
as waiting, away from that agent for the queue's cool-down, and asks for a routing pass."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.accounts.domain.roles import Permission
from raccordo.platform.errors import Conflict
from raccordo.platform.events import emit
from raccordo.record.models import Conversation
from raccordo.record.services.records import get_owned
from raccordo.routing.models import QueueItem
from raccordo.routing.services.routing import OFFERED, WAITING, _assign, _item_for, record, request_routing


def _my_offer(session: Session, actor: Actor, conversation_id: int) -> tuple[Conversation, QueueItem]:
    """The conversation and its item, locked, while it is offered to the actor; 409 otherwise."""
    actor.require(Permission.WORK)
    conversation = get_owned(session, Conversation, actor.tenant_id, conversation_id, lock=True)
    item = _item_for(session, conversation.id)
    if item is None or item.status != OFFERED or item.offered_user_id != actor.user_id:
        raise Conflict("routing.offer_gone")
    return conversation, item


def accept_offer(session: Session, actor: Actor, conversation_id: int, now: datetime | None = None) -> Conversation:
    now = now or datetime.now(UTC)
    conversation, item = _my_offer(session, actor, conversation_id)
    if item.offer_expires_at is not None and item.offer_expires_at <= now:
        raise Conflict("routing.offer_expired")
    record(
        session,
        actor.tenant_id,
        conversation.id,
        "accepted",
        queue_id=item.queue_id,
        user_id=actor.user_id,
        at=now,
        waited_seconds=round((now - item.enqueued_at).total_seconds(), 3),
    )
    _assign(session, item, conversation, actor.user_id, now)  # type: ignore[arg-type]
    return conversation


def decline_offer(
    session: Session, actor: Actor, conversation_id: int, reason: str | None = None, now: datetime | None = None
) -> None:
    now = now or datetime.now(UTC)
    conversation, item = _my_offer(session, actor, conversation_id)
    record(
        session,
        actor.tenant_id,
        conversation.id,
        "declined",
        queue_id=item.queue_id,
        user_id=actor.user_id,
        at=now,
        reason=(reason or "")[:200],
    )
    item.declined = {**(item.declined or {}), str(actor.user_id): now.isoformat()}
    item.status, item.offered_user_id, item.offer_expires_at, item.updated_at = WAITING, None, None, now
    emit(
        session,
        actor.tenant_id,
        "routing.offer_withdrawn",
        {"conversation_id": conversation.id, "reason": "declined"},
        conversation_id=conversation.id,
        user_id=actor.user_id,
    )
    request_routing(session, actor.tenant_id, "declined")


def my_offers(session: Session, actor: Actor) -> list[QueueItem]:
    return list(
        session.scalars(
            select(QueueItem)
            .where(
                QueueItem.tenant_id == actor.tenant_id,
                QueueItem.status == OFFERED,
                QueueItem.offered_user_id == actor.user_id,
            )
            .order_by(QueueItem.offer_expires_at)
        )
    )
