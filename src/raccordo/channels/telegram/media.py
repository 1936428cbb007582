"""Downloading received files after the message is stored, retried with backoff; a failure stays visible.

An update names a ``file_id``, never the file: ``getFile`` answers its ``file_path``, fetched from
``/file/bot<token>/<file_path>`` (https://core.telegram.org/bots/api#getfile; bots may download
files up to 20 MB). The download is not done while the update is answered (the database
transaction that stores the raw update must not wait on a third party): the message is stored
with its file listed in ``content_attributes.telegram.media`` and the flag
``telegram_media_pending``, and the channel's service, run by the worker (``service.py``), fetches
it, stores it as the message's attachment and clears the flag. A failed download is retried with
backoff (``BACKOFF``); the first and the final failure write a system message on the
conversation, in the inbox's language, so the agent knows a file is missing and why.
"""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import inbox_config
from raccordo.channels.telegram.botapi import BotApiFailure
from raccordo.channels.telegram.config import bot_for, language_of
from raccordo.channels.telegram.updates import MEDIA_PENDING
from raccordo.platform.events import emit_message
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain.messages import DeliveryStatus, Direction, SenderType
from raccordo.record.models import Attachment, Conversation, Message

BACKOFF = (10, 60, 300, 1800, 7200)


def _due(item: dict[str, Any], now: datetime) -> bool:
    return item.get("status") == "pending" and (
        not item.get("next_at") or datetime.fromisoformat(item["next_at"]) <= now
    )


def pending_messages(rt: Runtime, limit: int = 20) -> list[int]:
    with unit_of_work(rt.sessions) as session:
        return list(
            session.scalars(
                select(Message.id)
                .where(
                    Message.channel == "telegram",
                    Message.direction == Direction.INBOUND.value,
                    Message.content_attributes[MEDIA_PENDING].as_boolean().is_(True),
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


def _fetch(rt: Runtime, config: Any, file_id: str) -> tuple[bytes, str]:
    bot = bot_for(config)
    info = bot.get_file(file_id)
    path = str(info.get("file_path") or "")
    if not path:
        raise BotApiFailure("getFile", 400, "no file_path (larger than 20 MB?)")
    return bot.download(path), path


def download_message(rt: Runtime, message_id: int, now: datetime) -> int:
    with unit_of_work(rt.sessions) as session:
        message = session.get_one(Message, message_id)
        inbox = session.get_one(Inbox, message.inbox_id)
        config = inbox_config(rt, inbox)
        media = [dict(item) for item in (message.content_attributes.get("telegram") or {}).get("media") or []]
    language = language_of(config)
    outcomes: dict[int, tuple[bytes, str] | BotApiFailure] = {}
    for index, item in enumerate(media):
        if _due(item, now):
            try:
                outcomes[index] = _fetch(rt, config, str(item["file_id"]))
            except BotApiFailure as exc:
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
            if isinstance(outcome, BotApiFailure):
                notes.extend(_failed(item, outcome, language, now))
                continue
            data, path = outcome
            relative, digest = rt.files.put(message.tenant_id, data)
            extension = mimetypes.guess_extension(str(item.get("mime_type") or "")) or ""
            filename = item.get("filename") or path.rsplit("/", 1)[-1] or f"telegram-{item['kind']}{extension}"
            session.add(
                Attachment(
                    tenant_id=message.tenant_id,
                    message_id=message.id,
                    filename=str(filename)[:300],
                    content_type=str(item.get("mime_type") or "application/octet-stream")[:200],
                    size=len(data),
                    sha256=digest,
                    storage_path=relative,
                )
            )
            item.update(status="stored", error=None, next_at=None)
            stored += 1
        details = dict(message.content_attributes.get("telegram") or {})
        details["media"] = media
        attributes = {**message.content_attributes, "telegram": details}
        attributes[MEDIA_PENDING] = any(item.get("status") == "pending" for item in media)
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
                    content_attributes={"telegram_media_of": message.id},
                    delivery_status=DeliveryStatus.NOT_APPLICABLE.value,
                    created_at=now,
                )
            )
        session.flush()
        emit_message(session, message, conversation, "message.updated")
    return stored


def _failed(item: dict[str, Any], failure: BotApiFailure, language: str, now: datetime) -> list[str]:
    attempts = int(item.get("attempts") or 0) + 1
    reason = f"{failure.error_code or '-'} {failure.description}".strip()
    item.update(attempts=attempts, error=reason)
    kind = translate(f"telegram.inbound.{item.get('kind', 'document')}", language, filename=item.get("filename") or "")
    # A 400 (file too big for bots, file id unknown) will not get better.
    if failure.error_code == 400 or attempts > len(BACKOFF):
        item.update(status="failed", next_at=None)
        return [translate("telegram.media.failed", language, kind=kind, reason=reason)]
    item["next_at"] = (now + timedelta(seconds=BACKOFF[attempts - 1])).isoformat()
    return [translate("telegram.media.retrying", language, kind=kind, reason=reason)] if attempts == 1 else []
