"""MMS files, downloaded after the message is stored; retried with backoff, a failure stays visible.

Twilio's inbound webhook names each file by URL (``MediaUrl<N>``); fetching it is a call to a
third party that must not happen while the webhook is answered and the raw request's transaction
is open. The message is stored with its files listed in ``content_attributes.sms.media`` and the
flag ``sms_media_pending``; the channel's background pass (``background.py``, run by the worker)
fetches each with the account's Basic auth, stores it as an attachment and clears the flag. A
failed download is retried (``BACKOFF``); the final failure writes a system message, in the
inbox's language, so the agent knows a file is missing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import inbox_config
from raccordo.channels.sms import twilio
from raccordo.channels.sms.config import DETAILS, MEDIA_PENDING, language_of
from raccordo.platform.events import emit_message
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.record.domain.messages import DeliveryStatus, Direction, SenderType
from raccordo.record.models import Attachment, Conversation, Message

# Seconds before each retry; after the last the file is given up.
BACKOFF = (10, 60, 300, 1800)
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "video/mp4": "mp4", "audio/mpeg": "mp3"}


def pending_messages(rt: Runtime, limit: int = 20) -> list[int]:
    with unit_of_work(rt.sessions) as session:
        return list(
            session.scalars(
                select(Message.id)
                .where(
                    Message.channel == "sms",
                    Message.direction == Direction.INBOUND.value,
                    Message.content_attributes[MEDIA_PENDING].as_boolean().is_(True),
                )
                .order_by(Message.id)
                .limit(limit)
            )
        )


def download_pending(rt: Runtime, now: datetime | None = None) -> int:
    """One pass over the messages with files to fetch; returns how many files were stored."""
    return sum(download_message(rt, message_id, now or datetime.now(UTC)) for message_id in pending_messages(rt))


def _due(item: dict[str, Any], now: datetime) -> bool:
    return item.get("status") == "pending" and (
        not item.get("next_at") or datetime.fromisoformat(item["next_at"]) <= now
    )


def download_message(rt: Runtime, message_id: int, now: datetime) -> int:
    with unit_of_work(rt.sessions) as session:
        message = session.get_one(Message, message_id)
        config = inbox_config(rt, session.get_one(Inbox, message.inbox_id))
        media = [dict(item) for item in (message.content_attributes.get(DETAILS) or {}).get("media") or []]
    outcomes: dict[int, tuple[bytes, str] | str] = {}
    for index, item in enumerate(media):
        if _due(item, now) and not str(item.get("url", "")).startswith(twilio.base_url(config) + "/"):
            # The account's credentials go only to the Twilio API the inbox is set up with.
            item["attempts"] = len(BACKOFF)
            outcomes[index] = "not a Twilio API address"
        elif _due(item, now):
            try:
                outcomes[index] = twilio.download(config, str(item["url"]))
            except httpx.HTTPError as exc:
                status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else None
                outcomes[index] = f"HTTP {status}" if status else type(exc).__name__
    if not outcomes:
        return 0
    language, stored = language_of(config), 0
    with unit_of_work(rt.sessions) as session:
        message = session.get_one(Message, message_id, with_for_update=rt.engine.dialect.name == "postgresql")
        notes: list[str] = []
        for index, outcome in outcomes.items():
            item = media[index]
            if isinstance(outcome, str):
                attempts = int(item.get("attempts") or 0) + 1
                item.update(attempts=attempts, error=outcome)
                if attempts > len(BACKOFF):
                    item.update(status="failed", next_at=None)
                    notes.append(translate("sms.media.failed", language, reason=outcome))
                else:
                    item["next_at"] = (now + timedelta(seconds=BACKOFF[attempts - 1])).isoformat()
                continue
            data, content_type = outcome
            content_type = str(item.get("content_type") or content_type).split(";")[0][:200]
            relative, digest = rt.files.put(message.tenant_id, data)
            extension = _EXTENSIONS.get(content_type, "bin")
            session.add(
                Attachment(
                    tenant_id=message.tenant_id,
                    message_id=message.id,
                    filename=f"mms-{message.id}-{index + 1}.{extension}",
                    content_type=content_type,
                    size=len(data),
                    sha256=digest,
                    storage_path=relative,
                )
            )
            item.update(status="stored", error=None, next_at=None)
            stored += 1
        details = {**(message.content_attributes.get(DETAILS) or {}), "media": media}
        message.content_attributes = {
            **message.content_attributes,
            DETAILS: details,
            MEDIA_PENDING: any(item.get("status") == "pending" for item in media),
        }
        for text in notes:
            session.add(
                Message(
                    tenant_id=message.tenant_id,
                    conversation_id=message.conversation_id,
                    direction=Direction.SYSTEM.value,
                    channel=message.channel,
                    inbox_id=message.inbox_id,
                    sender_type=SenderType.SYSTEM.value,
                    text=text,
                    content_attributes={"sms_media_of": message.id},
                    delivery_status=DeliveryStatus.NOT_APPLICABLE.value,
                    created_at=now,
                )
            )
        session.flush()
        emit_message(session, message, session.get_one(Conversation, message.conversation_id), "message.updated")
    return stored
