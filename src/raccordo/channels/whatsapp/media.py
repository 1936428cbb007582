"""Downloading received media after the message is stored, retried with backoff; a failure stays visible.

The webhook names a media id, never the file (Meta's media reference:
https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media): ``GET /{media-id}``
answers a short-lived URL, fetched with the same bearer token. The download is not done while
the webhook is answered (Meta waits on it, and the database transaction that stores the raw
request must not wait on a third party): the message is stored first with its media listed in
``content_attributes.whatsapp.media`` and the flag ``whatsapp_media_pending``, and this
channel's background service, which the worker runs (``background.py``), fetches each file,
stores it as the message's attachment and clears the flag. A failed download is retried with
backoff (``BACKOFF``); the first failure and the final one write a system message on the
conversation, in the inbox's language, so the agent knows a file is missing and why.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import inbox_config
from raccordo.channels.whatsapp.config import graph_for, language_of
from raccordo.channels.whatsapp.graph import GraphFailure
from raccordo.channels.whatsapp.inbound import MEDIA_PENDING
from raccordo.platform.events import emit_message
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain.messages import DeliveryStatus, Direction, SenderType
from raccordo.record.models import Attachment, Conversation, Message

PENDING_FLAG = MEDIA_PENDING
# Seconds before each retry; after the last one the file is given up (Meta keeps media about 30 days).
BACKOFF = (10, 60, 300, 1800, 7200)


def _due(item: dict[str, Any], now: datetime) -> bool:
    return item.get("status") == "pending" and (
        not item.get("next_at") or datetime.fromisoformat(item["next_at"]) <= now
    )


def pending_messages(rt: Runtime, limit: int = 20) -> list[int]:
    """Inbound WhatsApp messages whose media is still to download, oldest first."""
    with unit_of_work(rt.sessions) as session:
        return list(
            session.scalars(
                select(Message.id)
                .where(
                    Message.channel == "whatsapp",
                    Message.direction == Direction.INBOUND.value,
                    Message.content_attributes[PENDING_FLAG].as_boolean().is_(True),
                )
                .order_by(Message.id)
                .limit(limit)
            )
        )


def download_pending(rt: Runtime, now: datetime | None = None) -> int:
    """One pass: download every due file; returns how many were stored."""
    stored = 0
    for message_id in pending_messages(rt):
        stored += download_message(rt, message_id, now or datetime.now(UTC))
    return stored


def download_message(rt: Runtime, message_id: int, now: datetime) -> int:
    with unit_of_work(rt.sessions) as session:
        message = session.get_one(Message, message_id)
        inbox = session.get_one(Inbox, message.inbox_id)
        config = inbox_config(rt, inbox)
        media = [dict(item) for item in (message.content_attributes.get("whatsapp") or {}).get("media") or []]
    graph, language = graph_for(config), language_of(config)
    outcomes: dict[int, tuple[bytes, str] | GraphFailure] = {}
    for index, item in enumerate(media):
        if _due(item, now):
            try:
                outcomes[index] = graph.download(str(item["id"]))
            except GraphFailure as exc:
                outcomes[index] = exc
    if not outcomes:
        return 0
    stored = 0
    with unit_of_work(rt.sessions) as session:
        message = session.get_one(Message, message_id, with_for_update=rt.engine.dialect.name == "postgresql")
        conversation = session.get_one(Conversation, message.conversation_id)
        notes: list[str] = []
        for index, outcome in outcomes.items():
            item = media[index]
            if isinstance(outcome, GraphFailure):
                notes.extend(_failed(item, outcome, language, now))
                continue
            data, content_type = outcome
            relative, digest = rt.files.put(message.tenant_id, data)
            session.add(
                Attachment(
                    tenant_id=message.tenant_id,
                    message_id=message.id,
                    filename=str(item.get("filename") or f"whatsapp-{item['kind']}-{item['id']}")[:300],
                    content_type=str(item.get("mime_type") or content_type)[:200],
                    size=len(data),
                    sha256=digest,
                    storage_path=relative,
                )
            )
            item.update(status="stored", error=None, next_at=None)
            stored += 1
        details = dict(message.content_attributes.get("whatsapp") or {})
        details["media"] = media
        attributes = {**message.content_attributes, "whatsapp": details}
        attributes[PENDING_FLAG] = any(item.get("status") == "pending" for item in media)
        message.content_attributes = attributes
        for text in notes:
            session.add(
                Message(
                    tenant_id=message.tenant_id,
                    conversation_id=conversation.id,
                    direction=Direction.SYSTEM.value,
                    channel=message.channel,
                    inbox_id=message.inbox_id,
                    sender_type=SenderType.SYSTEM.value,
                    text=text,
                    content_attributes={"whatsapp_media_of": message.id},
                    delivery_status=DeliveryStatus.NOT_APPLICABLE.value,
                    created_at=now,
                )
            )
        session.flush()
        emit_message(session, message, conversation, "message.updated")
    return stored


def _failed(item: dict[str, Any], failure: GraphFailure, language: str, now: datetime) -> list[str]:
    """Count the attempt and schedule the next; the notes to write (first failure, final failure)."""
    attempts = int(item.get("attempts") or 0) + 1
    reason = failure.error.explain(language)
    item.update(attempts=attempts, error=reason)
    kind = translate(f"whatsapp.inbound.{item.get('kind', 'document')}", language, filename=item.get("filename") or "")
    if (not failure.error.retryable and failure.error.http_status in (400, 404)) or attempts > len(BACKOFF):
        item.update(status="failed", next_at=None)
        return [translate("whatsapp.media.failed", language, kind=kind, reason=reason)]
    item["next_at"] = (now + timedelta(seconds=BACKOFF[attempts - 1])).isoformat()
    return [translate("whatsapp.media.retrying", language, kind=kind, reason=reason)] if attempts == 1 else []
