"""The outbox worker: claim due sends, call the channel, record the outcome, retry with backoff.

Exactly-once effect per send, recorded before and after the provider call:

- Claiming marks a row ``sending`` with a lease (``claimed_until = now +
  RACCORDO_DELIVERY_LEASE_SECONDS``) and counts the attempt, in its own transaction
  (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent workers never take the same
  row). Just before the provider call the lease is renewed, so a batch claim does not
  eat into the time of its last sends; a row no longer ``sending`` is skipped.
- The provider gets the row's idempotency key, fixed when the reply was queued.
- After the call the outcome is recorded: ``sent`` once (a second success recorded for
  the same row changes and publishes nothing), or a retry with backoff, or ``failed``.

A worker that dies mid-send leaves the lease to expire and the row is sent again with
the same key, which the provider uses to drop the duplicate.

The loop that drives this is ``services.worker.WorkerLoop`` (``DeliveryLoop`` is its old name).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from raccordo.accounts.models import User
from raccordo.channels.base import DeliveryError, InboundIdentity, OutboundAttachment, OutboundMessage, get_channel
from raccordo.channels.models import Inbox, OutboxItem
from raccordo.channels.services.inbound import inbox_config
from raccordo.platform.events import emit_message
from raccordo.platform.files import FileStore
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain.messages import DeliveryStatus, TimelineKind
from raccordo.record.models import Contact, ContactIdentity, Conversation, Message
from raccordo.record.services.delivery_reports import apply_held_reports, lock_provider_id
from raccordo.record.services.records import add_timeline

log = logging.getLogger(__name__)


def lease(rt: Runtime) -> timedelta:
    """How long a claimed send stays reserved for its worker (RACCORDO_DELIVERY_LEASE_SECONDS)."""
    return timedelta(seconds=rt.settings.delivery_lease_seconds)


def backoff(attempts: int) -> timedelta:
    """5s, 20s, 80s, ... capped at one hour."""
    return timedelta(seconds=min(3600, 5 * 4 ** max(0, attempts - 1)))


def claim_due(rt: Runtime, limit: int = 20, now: datetime | None = None) -> list[int]:
    """Mark up to ``limit`` due sends ``sending`` under a lease and return their ids."""
    now = now or datetime.now(UTC)
    with unit_of_work(rt.sessions) as session:
        query = (
            select(OutboxItem)
            .where(
                or_(
                    (OutboxItem.status == "pending") & (OutboxItem.due_at <= now),
                    (OutboxItem.status == "sending") & (OutboxItem.claimed_until < now),
                )
            )
            .order_by(OutboxItem.due_at)
            .limit(limit)
        )
        if rt.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        items = list(session.scalars(query))
        for item in items:
            item.status, item.claimed_until, item.attempts = "sending", now + lease(rt), item.attempts + 1
        return [item.id for item in items]


def release(rt: Runtime, outbox_ids: list[int]) -> None:
    """Give back claimed sends that were not started (a worker stopping cleanly)."""
    if not outbox_ids:
        return
    with unit_of_work(rt.sessions) as session:
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.id.in_(outbox_ids), OutboxItem.status == "sending")
            .values(status="pending", claimed_until=None, attempts=OutboxItem.attempts - 1)
        )


def _locked(session: Session, outbox_id: int) -> OutboxItem | None:
    query = select(OutboxItem).where(OutboxItem.id == outbox_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def _outbound(session: Session, item: OutboxItem, files: FileStore) -> OutboundMessage:
    message = session.get_one(Message, item.message_id)
    conversation = session.get_one(Conversation, message.conversation_id)
    contact = session.get_one(Contact, conversation.contact_id)
    # Earlier messages of the conversation on this inbox, for channels that thread replies (email References).
    earlier = list(
        session.execute(
            select(Message.provider_message_id, Message.direction)
            .where(
                Message.conversation_id == conversation.id,
                Message.inbox_id == item.inbox_id,
                Message.id < message.id,
                Message.provider_message_id.is_not(None),
            )
            .order_by(Message.id.desc())
            .limit(30)
        ).all()
    )
    earlier.reverse()
    last_inbound = next((pid for pid, direction in reversed(earlier) if direction == "inbound"), None)
    recipient = message.content_attributes.get("recipient")
    sender = session.get(User, message.sender_id) if message.sender_id else None
    identities = session.execute(
        select(ContactIdentity.kind, ContactIdentity.value).where(ContactIdentity.contact_id == contact.id)
    ).all()
    return OutboundMessage(
        idempotency_key=item.idempotency_key,
        message_id=message.id,
        conversation_id=message.conversation_id,
        recipient=InboundIdentity(recipient["kind"], recipient["value"]) if recipient else None,
        text=message.text,
        html=message.html,
        attachments=[
            OutboundAttachment(a.filename, a.content_type, str(files.path(a.storage_path))) for a in message.attachments
        ],
        sender_name=sender.name if sender else None,
        contact={
            "id": contact.id,
            "name": contact.name,
            "identities": [{"kind": k, "value": v} for k, v in identities],
            # The contact's consent decisions by purpose, so a channel can refuse a marketing send.
            "consent": dict(contact.consent or {}),
        },
        subject=conversation.subject,
        thread=tuple(pid for pid, _ in earlier if pid is not None),  # (none is: the query asks for ids)
        in_reply_to=last_inbound,
        attributes={k: v for k, v in message.content_attributes.items() if k not in _INTERNAL_ATTRIBUTES},
    )


# Attributes the platform itself keeps on a message; a channel gets the rest (templates, interactive, tags).
_INTERNAL_ATTRIBUTES = frozenset({"recipient", "provider_id_duplicate", "delivery_reason"})


def deliver(rt: Runtime, outbox_id: int) -> str:
    """Send one claimed item. Returns the resulting status (the row's own when it is not claimed)."""
    with unit_of_work(rt.sessions) as session:
        item = _locked(session, outbox_id)
        if item is None:
            return "missing"
        if item.status != "sending":  # sent, failed or released meanwhile: not ours to send
            return item.status
        attempts = item.attempts
        # Recorded before the provider call: the attempt is ours for a full lease from now.
        renewed = datetime.now(UTC) + lease(rt)
        if item.claimed_until is None or item.claimed_until < renewed:
            item.claimed_until = renewed
        inbox = session.get(Inbox, item.inbox_id)
        config = inbox_config(rt, inbox)  # type: ignore[arg-type]
        channel = get_channel(inbox.channel)  # type: ignore[union-attr]
        outbound = _outbound(session, item, rt.files)
    if attempts > rt.settings.delivery_max_attempts:  # every earlier attempt died mid-send
        return _record_failure(rt, outbox_id, f"gave up after {attempts - 1} attempts that never finished", True)
    try:
        if channel is None:
            raise DeliveryError(f"channel {inbox.channel} is not installed", permanent=True)  # type: ignore[union-attr]
        provider_id = channel.send(config, outbound)
    except DeliveryError as exc:
        return _record_failure(rt, outbox_id, str(exc), exc.permanent, failure=exc)
    except Exception as exc:  # a bug in a channel must not stop the worker; the row keeps the error
        log.exception("outbox %s: unexpected error", outbox_id)
        return _record_failure(rt, outbox_id, f"{type(exc).__name__}: {exc}", False)
    try:
        return _record_sent(rt, outbox_id, provider_id, keep_id=True)
    except IntegrityError:  # another message of the inbox took this provider id meanwhile
        return _record_sent(rt, outbox_id, provider_id, keep_id=False)


def _record_sent(rt: Runtime, outbox_id: int, provider_id: str, *, keep_id: bool) -> str:
    """Record a send the provider accepted. A provider id another message of the inbox already has
    (a callback answering the same id every time) is kept on the outbox row and in the message's
    ``provider_id_duplicate`` attribute, not in its unique column: the send happened, and one
    integrator's answer must not make the row fail or the worker stop."""
    with unit_of_work(rt.sessions) as session:
        item = _locked(session, outbox_id)
        if item is None:
            return "missing"
        if item.status == "sent":  # another worker's attempt (same key) was recorded first
            return "sent"
        message = session.get_one(Message, item.message_id)
        if keep_id and message.inbox_id is not None:
            # A status for this id racing us waits for our commit, or we see its held report.
            lock_provider_id(session, message.inbox_id, provider_id)
        taken = (
            not keep_id
            or session.scalar(
                select(Message.id)
                .where(
                    Message.inbox_id == message.inbox_id,
                    Message.provider_message_id == provider_id,
                    Message.id != message.id,
                )
                .limit(1)
            )
            is not None
        )
        item.status, item.provider_message_id, item.last_error, item.claimed_until = "sent", provider_id, None, None
        message.delivery_status, message.delivery_error = DeliveryStatus.SENT.value, None
        if taken:
            log.warning(
                "outbox %s: the provider answered id %r, which another message of inbox %s has",
                outbox_id,
                provider_id,
                message.inbox_id,
            )
            message.content_attributes = {**message.content_attributes, "provider_id_duplicate": provider_id}
        else:
            message.provider_message_id = provider_id
            session.flush()
            # Statuses the provider reported before we knew this id (its webhook raced its answer).
            apply_held_reports(session, message)
        emit_message(session, message, session.get_one(Conversation, message.conversation_id), "message.updated")
    return "sent"


def _record_failure(
    rt: Runtime, outbox_id: int, error: str, permanent: bool, *, failure: DeliveryError | None = None
) -> str:
    with unit_of_work(rt.sessions) as session:
        item = _locked(session, outbox_id)
        if item is None:
            return "missing"
        if item.status != "sending":  # sent by another worker meanwhile: that outcome stands
            return item.status
        message = session.get_one(Message, item.message_id)
        item.last_error, item.claimed_until = error[:4000], None
        if failure is not None and failure.reason:
            # The agent-facing explanation (an i18n key and its values), rendered in the agent's language.
            message.content_attributes = {
                **message.content_attributes,
                "delivery_reason": {"key": failure.reason, "params": failure.params},
            }
        if permanent or item.attempts >= rt.settings.delivery_max_attempts:
            item.status = "failed"
            message.delivery_status, message.delivery_error = DeliveryStatus.FAILED.value, error[:4000]
            conversation = session.get_one(Conversation, message.conversation_id)
            add_timeline(
                session,
                item.tenant_id,
                conversation.contact_id,
                TimelineKind.DELIVERY_FAILED,
                conversation_id=conversation.id,
                data={"message_id": message.id, "error": error[:500]},
            )
            emit_message(session, message, conversation, "message.updated")
            return "failed"
        wait = backoff(item.attempts)
        if failure is not None and failure.retry_after is not None:
            wait = max(wait, timedelta(seconds=min(failure.retry_after, 86400)))
        item.status, item.due_at = "pending", datetime.now(UTC) + wait
        message.delivery_error = error[:4000]
        # The desk shows a reply that is retrying after an error (its banner offers "retry now").
        emit_message(session, message, session.get_one(Conversation, message.conversation_id), "message.updated")
        return "retrying"


def run_once(rt: Runtime, limit: int = 20) -> int:
    """Claim and send one batch of due sends. Returns how many were claimed."""
    ids = claim_due(rt, limit)
    for outbox_id in ids:
        deliver_isolated(rt, outbox_id)
    return len(ids)


def deliver_isolated(rt: Runtime, outbox_id: int) -> str:
    """``deliver``, where any error stays with the row (retried, then failed) and never reaches the loop."""
    try:
        return deliver(rt, outbox_id)
    except Exception as exc:
        log.exception("outbox %s: delivery step failed", outbox_id)
        try:
            return _record_failure(rt, outbox_id, f"{type(exc).__name__}: {exc}", False)
        except Exception:  # the database itself is failing: the lease expires and the row is claimed again
            log.exception("outbox %s: could not record the failure", outbox_id)
            return "error"
