"""What providers report on outbound messages: sent, delivered, read, failed (a bounce, a status callback).

Reports arrive in any order and more than once (Meta retries its webhooks and does not order
them), so a message only moves forward: queued → sent → delivered → read, and a late "delivered"
never hides "read" or "failed". A report can also arrive before the outbox has recorded the
provider's id for the send (the provider's status webhook raced its own answer to our call): it
is held (``HeldDeliveryReport``) and applied when the send is recorded (``apply_held_reports``,
called by the outbox in the same transaction). Held reports nobody claims are dropped after
``HOLD_FOR``. On PostgreSQL the two transactions could each miss the other's uncommitted row (the
report finds no message, the send finds no held report): both take the same transaction-scoped
advisory lock for the provider id first (``lock_provider_id``), so the second one sees the first's
commit. SQLite runs one writer at a time.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from raccordo.channels.base import DeliveryReport
from raccordo.channels.models import Inbox
from raccordo.platform.events import emit_message
from raccordo.record.domain.messages import DeliveryStatus, Direction, TimelineKind
from raccordo.record.models import ContactIdentity, Conversation, HeldDeliveryReport, Message
from raccordo.record.services.records import add_timeline

HOLD_FOR = timedelta(days=1)
# How far along a message is; a report moves it only to a larger number. Failed stands above all.
_PROGRESS = {
    DeliveryStatus.QUEUED.value: -1,
    DeliveryStatus.SENDING.value: -1,
    DeliveryStatus.SENT.value: 0,
    DeliveryStatus.DELIVERED.value: 1,
    DeliveryStatus.READ.value: 2,
}
_FORWARD = (DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value, DeliveryStatus.READ.value)
# The first key of the advisory locks taken here (the second is the provider id's checksum).
_LOCK_SPACE = 7301


def lock_provider_id(session: Session, inbox_id: int, provider_id: str) -> None:
    """Serialize a report and the recording of a send for one provider id (PostgreSQL; a no-op on SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    checksum = zlib.crc32(f"{inbox_id}:{provider_id}".encode())
    key = checksum - 2**32 if checksum >= 2**31 else checksum  # int4, as pg_advisory_xact_lock(int, int) takes
    session.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": _LOCK_SPACE, "key": key})


def apply_delivery_report(session: Session, inbox: Inbox, report: DeliveryReport) -> list[int]:
    """Apply what a provider reports on outbound messages; returns their ids (already updated ones too).
    A report naming no message we know is held for the send that will record that id."""
    for provider_id in sorted(set(report.provider_message_ids)):  # one order: two reports never deadlock
        lock_provider_id(session, inbox.id, provider_id)
    messages = list(
        session.scalars(
            select(Message).where(
                Message.inbox_id == inbox.id,
                Message.direction == Direction.OUTBOUND.value,
                Message.provider_message_id.in_(list(report.provider_message_ids)),
            )
        )
    )
    if report.watermark is not None and report.recipient is not None:
        messages += _up_to_watermark(session, inbox, report, {m.id for m in messages})
    known = {m.provider_message_id for m in messages}
    unknown = [pid for pid in report.provider_message_ids if pid not in known]
    if unknown:
        _hold(session, inbox, report, unknown)
    for message in messages:
        _apply(session, message, report.status, report.reason, report.reason_key, report.params, report.report_id)
    return [m.id for m in messages]


def _up_to_watermark(session: Session, inbox: Inbox, report: DeliveryReport, seen: set[int]) -> list[Message]:
    """Providers that report by time instead of by id (Messenger's delivery and read ``watermark``):
    outbound messages of the inbox to the report's recipient, accepted by the provider by the watermark."""
    assert report.recipient is not None and report.watermark is not None
    contacts = select(ContactIdentity.contact_id).where(
        ContactIdentity.tenant_id == inbox.tenant_id,
        ContactIdentity.kind == report.recipient.kind,
        ContactIdentity.value == report.recipient.value,
    )
    found = session.scalars(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.inbox_id == inbox.id,
            Message.direction == Direction.OUTBOUND.value,
            Message.provider_message_id.is_not(None),
            Message.created_at <= report.watermark,
            Message.delivery_status.in_([DeliveryStatus.SENT.value, DeliveryStatus.DELIVERED.value]),
            Conversation.contact_id.in_(contacts),
        )
    )
    return [m for m in found if m.id not in seen]


def apply_held_reports(session: Session, message: Message) -> None:
    """Apply the reports held for ``message``'s provider id (just recorded by the outbox), oldest first."""
    if message.inbox_id is None or message.provider_message_id is None:
        return
    held = list(
        session.scalars(
            select(HeldDeliveryReport)
            .where(
                HeldDeliveryReport.inbox_id == message.inbox_id,
                HeldDeliveryReport.provider_message_id == message.provider_message_id,
                HeldDeliveryReport.tenant_id == message.tenant_id,
            )
            .order_by(HeldDeliveryReport.id)
        )
    )
    for report in held:
        _apply(session, message, report.status, report.reason, report.reason_key, report.params, report.report_id)
        session.delete(report)
    if held:
        session.flush()


def _hold(session: Session, inbox: Inbox, report: DeliveryReport, provider_ids: list[str]) -> None:
    now = datetime.now(UTC)
    session.execute(
        delete(HeldDeliveryReport).where(
            HeldDeliveryReport.inbox_id == inbox.id, HeldDeliveryReport.created_at < now - HOLD_FOR
        )
    )
    for provider_id in provider_ids:
        session.add(
            HeldDeliveryReport(
                tenant_id=inbox.tenant_id,
                inbox_id=inbox.id,
                provider_message_id=provider_id[:500],
                status=report.status[:16],
                reason=report.reason[:4000],
                reason_key=(report.reason_key or None) and report.reason_key[:200],
                params=dict(report.params or {}),
                report_id=report.report_id[:500],
                created_at=now,
            )
        )
    session.flush()


def _apply(
    session: Session,
    message: Message,
    status: str,
    reason: str,
    reason_key: str | None,
    params: dict[str, str] | None,
    report_id: str,
) -> None:
    if status in _FORWARD:
        if _PROGRESS.get(message.delivery_status, 3) < _PROGRESS[status]:
            message.delivery_status = status
            session.flush()
            emit_message(session, message, session.get_one(Conversation, message.conversation_id), "message.updated")
        return
    if message.delivery_status == DeliveryStatus.FAILED.value:
        return  # the same report twice, or a second bounce: the first reason stands
    message.delivery_status, message.delivery_error = DeliveryStatus.FAILED.value, reason[:4000]
    if reason_key:
        # The agent-facing explanation, rendered in the reader's language (as the outbox does for a refused send).
        message.content_attributes = {
            **message.content_attributes,
            "delivery_reason": {"key": reason_key, "params": dict(params or {})},
        }
    conversation = session.get_one(Conversation, message.conversation_id)
    add_timeline(
        session,
        message.tenant_id,
        conversation.contact_id,
        TimelineKind.DELIVERY_FAILED,
        conversation_id=conversation.id,
        data={"message_id": message.id, "error": reason[:500], "report": report_id[:200]},
    )
    session.flush()
    emit_message(session, message, conversation, "message.updated")
