"""Downloading received attachments after the message is stored, retried with backoff; a failure stays visible.

Messenger and Instagram webhooks carry attachments as CDN URLs (``message.attachments[].payload.url``),
which expire. The download is not done while the webhook is answered (Meta waits on it and may
retry; the transaction that stores the raw request must not wait on a CDN): the message is stored
with its attachments listed in ``content_attributes.meta.media`` and the flag ``meta_media_pending``;
the channel's background service (``MediaService``, run by the worker) fetches each file, stores it
as the message's attachment and clears the flag. The first failure and the final one write a system
message on the conversation, in the inbox's language, so the agent knows a file is missing and why.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from raccordo.channels.messenger.config import graph_for, language_of
from raccordo.channels.messenger.graph import SendFailure
from raccordo.channels.messenger.inbound import MEDIA_PENDING
from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import inbox_config
from raccordo.platform.events import emit_message
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain.messages import DeliveryStatus, Direction, SenderType
from raccordo.record.models import Attachment, Conversation, Message

log = logging.getLogger(__name__)
# Seconds before each retry; after the last one the file is given up (CDN URLs expire within days).
BACKOFF = (10, 60, 300, 1800)


def _due(item: dict[str, Any], now: datetime) -> bool:
    return item.get("status") == "pending" and (
        not item.get("next_at") or datetime.fromisoformat(item["next_at"]) <= now
    )


def pending_messages(rt: Runtime, kind: str, limit: int = 20) -> list[int]:
    with unit_of_work(rt.sessions) as session:
        return list(
            session.scalars(
                select(Message.id)
                .where(
                    Message.channel == kind,
                    Message.direction == Direction.INBOUND.value,
                    Message.content_attributes[MEDIA_PENDING].as_boolean().is_(True),
                )
                .order_by(Message.id)
                .limit(limit)
            )
        )


def download_pending(rt: Runtime, kind: str, now: datetime | None = None) -> int:
    """One pass: download every due file of the channel's messages; returns how many were stored."""
    return sum(download_message(rt, message_id, now or datetime.now(UTC)) for message_id in pending_messages(rt, kind))


def download_message(rt: Runtime, message_id: int, now: datetime) -> int:
    with unit_of_work(rt.sessions) as session:
        message = session.get_one(Message, message_id)
        config = inbox_config(rt, session.get_one(Inbox, message.inbox_id))
        media = [dict(item) for item in (message.content_attributes.get("meta") or {}).get("media") or []]
    graph, language = graph_for(config), language_of(config)
    outcomes: dict[int, tuple[bytes, str] | SendFailure] = {}
    for index, item in enumerate(media):
        if _due(item, now):
            try:
                outcomes[index] = graph.download(str(item["url"]), rt.settings.max_attachment_bytes)
            except SendFailure as exc:
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
            if isinstance(outcome, SendFailure):
                notes.extend(_failed(item, outcome, language, now))
                continue
            data, content_type = outcome
            relative, digest = rt.files.put(message.tenant_id, data)
            session.add(
                Attachment(
                    tenant_id=message.tenant_id,
                    message_id=message.id,
                    filename=_filename(item, index, content_type),
                    content_type=content_type[:200],
                    size=len(data),
                    sha256=digest,
                    storage_path=relative,
                )
            )
            item.update(status="stored", error=None, next_at=None)
            stored += 1
        details = {**(message.content_attributes.get("meta") or {}), "media": media}
        message.content_attributes = {
            **message.content_attributes,
            "meta": details,
            MEDIA_PENDING: any(item.get("status") == "pending" for item in media),
        }
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
                    content_attributes={"meta_media_of": message.id},
                    delivery_status=DeliveryStatus.NOT_APPLICABLE.value,
                    created_at=now,
                )
            )
        session.flush()
        emit_message(session, message, conversation, "message.updated")
    return stored


def _filename(item: dict[str, Any], index: int, content_type: str) -> str:
    path = str(item["url"]).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if path and "." in path:
        return path[:300]
    extension = {"image/jpeg": ".jpg", "image/png": ".png", "video/mp4": ".mp4", "audio/mpeg": ".mp3"}.get(
        content_type, ""
    )
    return f"{item.get('kind', 'file')}-{index + 1}{extension}"


def _failed(item: dict[str, Any], failure: SendFailure, language: str, now: datetime) -> list[str]:
    """Count the attempt and schedule the next; the notes to write (first failure, final failure)."""
    attempts = int(item.get("attempts") or 0) + 1
    reason = failure.error.describe()
    item.update(attempts=attempts, error=reason)
    kind = translate(f"meta.inbound.{item.get('kind', 'file')}", language)
    gone = failure.error.http_status in (403, 404, 410, 413)
    if gone or attempts > len(BACKOFF):
        item.update(status="failed", next_at=None)
        return [translate("meta.media.failed", language, kind=kind, reason=reason)]
    item["next_at"] = (now + timedelta(seconds=BACKOFF[attempts - 1])).isoformat()
    return [translate("meta.media.retrying", language, kind=kind, reason=reason)] if attempts == 1 else []


class MediaService:
    """The worker's background service for one Meta channel: a media download pass every ``interval`` seconds."""

    def __init__(self, rt: Runtime, kind: str, interval: float = 2.0) -> None:
        self.rt, self.kind, self.interval = rt, kind, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{kind}-media", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def run_once(self, now: datetime | None = None) -> int:
        return download_pending(self.rt, self.kind, now)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a database hiccup must not end the service; the next pass tries again
                log.exception("%s media pass failed", self.kind)
            self._stop.wait(self.interval)
