"""Downloading a message's received files after it is stored: the pass every messaging channel shares.

A channel's webhook names its files (a media id, a ``file_id``, a CDN or API URL) and the message
is stored at once with them listed in ``content_attributes.<details>.media`` and a pending flag;
fetching them is a call to a third party that must not happen while the webhook is answered. The
channel's background service runs ``download_pending`` with a ``MediaSource``: the channel's own
parts (how to fetch one file from its provider, how to name the attachment, what a failure means
and which notes it writes) stay in the channel's package; finding the due files, storing them as
attachments, keeping the list and the flag current and writing the notes as system messages is
done here, the same for all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import inbox_config
from raccordo.platform.events import emit_message
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain.messages import DeliveryStatus, Direction, SenderType
from raccordo.record.models import Attachment, Conversation, Message

# What a channel's fetch answers for one file: its bytes and what the provider says of it (the
# content type, or Telegram's file path), or the channel's own failure (an exception, a reason).
Fetched = tuple[bytes, str]


@dataclass(frozen=True)
class MediaSource:
    """One channel's parts of the download pass."""

    channel: str  # ``Message.channel`` of the messages to look at
    details: str  # the key of ``content_attributes`` whose ``media`` lists the files
    pending_flag: str  # the ``content_attributes`` flag set while a file is to download
    note_of: str  # the key a failure note's ``content_attributes`` points back to the message with
    # (rt, inbox config) -> fetch one due media item: ``Fetched`` or the channel's failure
    fetcher: Callable[[Runtime, Any], Callable[[dict[str, Any]], Fetched | object]]
    language: Callable[[Any], str]  # the inbox config's language, for the notes
    # (item, failure, language, now) -> count the attempt, schedule or give up; the notes to write
    failed: Callable[[dict[str, Any], Any, str, datetime], list[str]]
    # (message id, index, item, fetched) -> the attachment's filename and content type
    describe: Callable[[int, int, dict[str, Any], Fetched], tuple[str, str]]


def due(item: dict[str, Any], now: datetime) -> bool:
    return item.get("status") == "pending" and (
        not item.get("next_at") or datetime.fromisoformat(item["next_at"]) <= now
    )


def pending_messages(rt: Runtime, source: MediaSource, limit: int = 20) -> list[int]:
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


def download_message(rt: Runtime, source: MediaSource, message_id: int, now: datetime) -> int:
    """Fetch the message's due files (outside any transaction), then record them; returns how many were stored."""
    with unit_of_work(rt.sessions) as session:
        message = session.get_one(Message, message_id)
        config = inbox_config(rt, session.get_one(Inbox, message.inbox_id))
        media = [dict(item) for item in (message.content_attributes.get(source.details) or {}).get("media") or []]
    fetch = source.fetcher(rt, config)
    outcomes = {index: fetch(item) for index, item in enumerate(media) if due(item, now)}
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
                    filename=filename,
                    content_type=content_type,
                    size=len(outcome[0]),
                    sha256=digest,
                    storage_path=relative,
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
                    content_attributes={source.note_of: message.id},
                    delivery_status=DeliveryStatus.NOT_APPLICABLE.value,
                    created_at=now,
                )
            )
        session.flush()
        emit_message(session, message, conversation, "message.updated")
    return stored


def download_pending(rt: Runtime, source: MediaSource, now: datetime | None = None) -> int:
    """One pass over the channel's messages with files to fetch; returns how many files were stored."""
    return sum(
        download_message(rt, source, message_id, now or datetime.now(UTC))
        for message_id in pending_messages(rt, source)
    )
