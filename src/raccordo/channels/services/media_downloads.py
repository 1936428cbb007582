"""Downloading a message's received files after it is stored: the pass every messaging channel shares.

A channel's webhook names its files (a media id, a ``file_id``, a CDN or API URL) and the message
is stored at once with them listed in ``content_attributes.<details>.media`` and a pending flag;
fetching them is a call to a third party that must not happen while the webhook is answered. The
channel's background service runs ``download_pending`` of its ``MediaDownloads``: the channel's own
parts (how to fetch one file from its provider, how to name the attachment, what a failure means
and which notes it writes) stay in the channel's package; finding the due files, storing them as
attachments, keeping the list and the flag current and writing the notes as system messages is
done here, the same for all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import inbox_config
from raccordo.platform.events import emit_message
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain.messages import DeliveryStatus, Direction, SenderType
from raccordo.record.models import Attachment, Conversation, Message

# What a channel's fetch answers for one file: its bytes and what the provider says of it (the
# content type, or Telegram's file path).
Fetched = tuple[bytes, str]


class MediaDownloads(ABC):
    """One channel's download pass: the shared loop here, the channel's own parts in its subclass.

    A failure note points back to its message with ``<details>_media_of``.
    """

    channel: str  # ``Message.channel`` of the messages to look at
    details: str  # the key of ``content_attributes`` whose ``media`` lists the files
    pending_flag: str  # the ``content_attributes`` flag set while a file is to download
    failures: tuple[type[Exception], ...]  # what the channel's fetch raises when a file could not be had

    @abstractmethod
    def fetcher(self, rt: Runtime, config: Any) -> Callable[[dict[str, Any]], Fetched]:
        """How to fetch one due media item with the inbox's config (raises one of ``failures``)."""

    @abstractmethod
    def language(self, config: Any) -> str:
        """The inbox's language, for the notes."""

    @abstractmethod
    def failed(self, item: dict[str, Any], failure: Any, language: str, now: datetime) -> list[str]:
        """Count the attempt on the item, schedule the next or give up; the notes to write."""

    @abstractmethod
    def describe(self, message_id: int, index: int, item: dict[str, Any], fetched: Fetched) -> tuple[str, str]:
        """The stored attachment's filename and content type."""

    def pending_messages(self, rt: Runtime, limit: int = 20) -> list[int]:
        return pending_messages(rt, self, limit)

    def download_pending(self, rt: Runtime, now: datetime | None = None) -> int:
        """One pass: download every due file; returns how many were stored."""
        return download_pending(rt, self, now)

    def download_message(self, rt: Runtime, message_id: int, now: datetime) -> int:
        return download_message(rt, self, message_id, now)


def due(item: dict[str, Any], now: datetime) -> bool:
    return item.get("status") == "pending" and (
        not item.get("next_at") or datetime.fromisoformat(item["next_at"]) <= now
    )


def count_failure(
    item: dict[str, Any], reason: str, backoff: Sequence[int], now: datetime, give_up: bool = False
) -> int | None:
    """Count a failed attempt on the item and schedule the next after ``backoff``.

    The item is given up (``None``) when ``give_up`` (the failure will not get better) or the
    backoff has run out; otherwise the attempt's number, so the channel can write its first note.
    """
    attempts = int(item.get("attempts") or 0) + 1
    item.update(attempts=attempts, error=reason)
    if give_up or attempts > len(backoff):
        item.update(status="failed", next_at=None)
        return None
    item["next_at"] = (now + timedelta(seconds=backoff[attempts - 1])).isoformat()
    return attempts


def failure_notes(prefix: str, attempt: int | None, language: str, **values: str) -> list[str]:
    """The notes after ``count_failure``: ``<prefix>.media.failed`` when given up, ``.retrying`` on the first."""
    if attempt is None:
        return [translate(f"{prefix}.media.failed", language, **values)]
    return [translate(f"{prefix}.media.retrying", language, **values)] if attempt == 1 else []


def pending_messages(rt: Runtime, source: MediaDownloads, limit: int = 20) -> list[int]:
    """Inbound messages of the channel whose files are still to download, oldest first."""
    with unit_of_work(rt.sessions) as session:
        return list(
            session.scalars(
                select(Message.id)
                .where(
                    Message.channel == source.channel,
                    Message.direction == Direction.INBOUND.value,
                    Message.content_attributes[source.pending_flag].as_boolean().is_(True),
                )
                .order_by(Message.id)
                .limit(limit)
            )
        )


def download_message(rt: Runtime, source: MediaDownloads, message_id: int, now: datetime) -> int:
    """Fetch the message's due files (outside any transaction), then record them; returns how many were stored."""
    with unit_of_work(rt.sessions) as session:
        message = session.get_one(Message, message_id)
        config = inbox_config(rt, session.get_one(Inbox, message.inbox_id))
        media = [dict(item) for item in (message.content_attributes.get(source.details) or {}).get("media") or []]
    fetch = source.fetcher(rt, config)
    outcomes: dict[int, Fetched | Exception] = {}
    for index, item in enumerate(media):
        if due(item, now):
            try:
                outcomes[index] = fetch(item)
            except source.failures as exc:
                outcomes[index] = exc
    if not outcomes:
        return 0
    language, stored = source.language(config), 0
    with unit_of_work(rt.sessions) as session:
        message = session.get_one(Message, message_id, with_for_update=rt.engine.dialect.name == "postgresql")
        conversation = session.get_one(Conversation, message.conversation_id)
        notes: list[str] = []
        for index, outcome in outcomes.items():
            item = media[index]
            if not isinstance(outcome, tuple):
                notes.extend(source.failed(item, outcome, language, now))
                continue
            filename, content_type = source.describe(message.id, index, item, outcome)
            relative, digest = rt.files.put(message.tenant_id, outcome[0])
            session.add(
                Attachment(
                    tenant_id=message.tenant_id,
                    message_id=message.id,
                    size=len(outcome[0]),
                    sha256=digest,
                    storage_path=relative,
                    filename=filename,
                    content_type=content_type,
                )
            )
            item.update(status="stored", error=None, next_at=None)
            stored += 1
        message.content_attributes = {
            **message.content_attributes,
            source.details: {**(message.content_attributes.get(source.details) or {}), "media": media},
            source.pending_flag: any(item.get("status") == "pending" for item in media),
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
                    content_attributes={f"{source.details}_media_of": message.id},
                    delivery_status=DeliveryStatus.NOT_APPLICABLE.value,
                    created_at=now,
                )
            )
        session.flush()
        emit_message(session, message, conversation, "message.updated")
    return stored


def download_pending(rt: Runtime, source: MediaDownloads, now: datetime | None = None) -> int:
    """One pass over the channel's messages with files to fetch; returns how many files were stored."""
    return sum(
        download_message(rt, source, message_id, now or datetime.now(UTC))
        for message_id in pending_messages(rt, source)
    )
