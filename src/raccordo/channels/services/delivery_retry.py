"""An agent's "retry" of a reply the outbox could not deliver: the same outbox item queued again, due now,
with the same idempotency key (a provider that did receive an earlier attempt drops the duplicate).

Idempotent: a send already queued again (or being retried by the worker) is only made due now, one in
flight is left alone; a send that went out answers a conflict. The caller (``desk.services``) checks
the role and whether the agent may act on the conversation; this module scopes every read to the tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from raccordo.accounts.domain.actor import Actor
from raccordo.channels.models import OutboxItem
from raccordo.platform.errors import Conflict, NotFound
from raccordo.platform.events import emit, emit_message
from raccordo.record.domain.messages import DeliveryStatus, Direction
from raccordo.record.models import Conversation, Message
from raccordo.record.services.records import audit, get_owned


@dataclass(frozen=True)
class Retried:
    message: Message
    # False when the send was already queued or in flight: nothing changed (a second click, say).
    requeued: bool


def outbox_item(session: Session, message: Message, *, lock: bool = False) -> OutboxItem | None:
    """The message's latest outbox row (one per send)."""
    query = (
        select(OutboxItem)
        .where(OutboxItem.tenant_id == message.tenant_id, OutboxItem.message_id == message.id)
        .order_by(OutboxItem.id.desc())
        .limit(1)
    )
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def requeue(session: Session, actor: Actor, message: Message, conversation: Conversation) -> Retried:
    """Queue the message's send again, due now. ``Conflict`` when it was delivered or is not a reply."""
    if message.direction != Direction.OUTBOUND.value:
        raise Conflict("delivery.retry_not_outbound", field="message_id")
    item = outbox_item(session, message, lock=True)
    session.refresh(message)  # as it is now that its send is ours: the worker may have just recorded it
    if item is None:
        raise NotFound("delivery.retry_no_send", field="message_id")
    if item.status == "sent" or message.delivery_status in (
        DeliveryStatus.SENT.value,
        DeliveryStatus.DELIVERED.value,
        DeliveryStatus.READ.value,
    ):
        raise Conflict("delivery.retry_already_sent", field="message_id")
    now = datetime.now(UTC)
    if item.status == "sending":  # a worker has it now: its outcome will show
        return Retried(message, False)
    if item.status == "pending":  # queued already (an earlier retry, or the worker's backoff): due now
        item.due_at = now
        return Retried(message, False)
    # failed: a fresh round of attempts; the last error stays on the message until a send succeeds,
    # so the agent sees "retrying" rather than nothing.
    item.status, item.attempts, item.due_at, item.claimed_until = "pending", 0, now, None
    message.delivery_status = DeliveryStatus.QUEUED.value
    audit(session, actor, "message.retry", "message", message.id, {"outbox_id": item.id})
    emit_message(session, message, conversation, "message.updated")
    emit(session, actor.tenant_id, "outbox.queued", {"message_id": message.id})
    return Retried(message, True)


def retry_message(session: Session, actor: Actor, message_id: int) -> tuple[Message, Conversation]:
    """The tenant's message and its conversation, for the caller's access check before ``requeue``. Not
    locked here: ``requeue`` locks the outbox row first, then writes the message, in the order the
    outbox worker does (the other order could deadlock with it on PostgreSQL)."""
    message = get_owned(session, Message, actor.tenant_id, message_id)
    conversation = get_owned(session, Conversation, actor.tenant_id, message.conversation_id)
    return message, conversation
