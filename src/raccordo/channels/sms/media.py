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

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from raccordo.channels.services import media_downloads
from raccordo.channels.services.media_downloads import Fetched, MediaSource
from raccordo.channels.sms import twilio
from raccordo.channels.sms.config import DETAILS, MEDIA_PENDING, language_of
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime

# Seconds before each retry; after the last the file is given up.
BACKOFF = (10, 60, 300, 1800)
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "video/mp4": "mp4", "audio/mpeg": "mp3"}


def _fetcher(rt: Runtime, config: Any) -> Callable[[dict[str, Any]], Fetched | str]:
    def fetch(item: dict[str, Any]) -> Fetched | str:
        if not str(item.get("url", "")).startswith(twilio.base_url(config) + "/"):
            # The account's credentials go only to the Twilio API the inbox is set up with.
            item["attempts"] = len(BACKOFF)
            return "not a Twilio API address"
        try:
            return twilio.download(config, str(item["url"]))
        except httpx.HTTPError as exc:
            status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else None
            return f"HTTP {status}" if status else type(exc).__name__

    return fetch


def _describe(message_id: int, index: int, item: dict[str, Any], fetched: Fetched) -> tuple[str, str]:
    content_type = str(item.get("content_type") or fetched[1]).split(";")[0][:200]
    return f"mms-{message_id}-{index + 1}.{_EXTENSIONS.get(content_type, 'bin')}", content_type


def _failed(item: dict[str, Any], reason: str, language: str, now: datetime) -> list[str]:
    """Count the attempt and schedule the next; only the final failure writes a note."""
    attempts = int(item.get("attempts") or 0) + 1
    item.update(attempts=attempts, error=reason)
    if attempts > len(BACKOFF):
        item.update(status="failed", next_at=None)
        return [translate("sms.media.failed", language, reason=reason)]
    item["next_at"] = (now + timedelta(seconds=BACKOFF[attempts - 1])).isoformat()
    return []


SOURCE = MediaSource(
    channel="sms",
    details=DETAILS,
    pending_flag=MEDIA_PENDING,
    note_of="sms_media_of",
    fetcher=_fetcher,
    language=language_of,
    failed=_failed,
    describe=_describe,
)


def pending_messages(rt: Runtime, limit: int = 20) -> list[int]:
    return media_downloads.pending_messages(rt, SOURCE, limit)


def download_pending(rt: Runtime, now: datetime | None = None) -> int:
    """One pass over the messages with files to fetch; returns how many files were stored."""
    return media_downloads.download_pending(rt, SOURCE, now)


def download_message(rt: Runtime, message_id: int, now: datetime) -> int:
    return media_downloads.download_message(rt, SOURCE, message_id, now)
