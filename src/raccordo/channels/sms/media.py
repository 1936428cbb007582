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
from datetime import datetime
from typing import Any

import httpx

from raccordo.channels.services.media_downloads import Fetched, MediaDownloads, count_failure
from raccordo.channels.sms import twilio
from raccordo.channels.sms.config import DETAILS, MEDIA_PENDING, language_of
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime

# Seconds before each retry; after the last the file is given up.
BACKOFF = (10, 60, 300, 1800)
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "video/mp4": "mp4", "audio/mpeg": "mp3"}


class NotTwilio(Exception):
    """The file's URL is not on the Twilio API the inbox is set up with: it is not fetched."""


class SmsMedia(MediaDownloads):
    """MMS files by ``MediaUrl<N>``, fetched with the account's Basic auth."""

    channel, details = "sms", DETAILS
    pending_flag, failures = MEDIA_PENDING, (httpx.HTTPError, NotTwilio)

    def fetcher(self, rt: Runtime, config: Any) -> Callable[[dict[str, Any]], Fetched]:
        def fetch(item: dict[str, Any]) -> Fetched:
            if not str(item.get("url", "")).startswith(twilio.base_url(config) + "/"):
                # The account's credentials go only to the Twilio API the inbox is set up with.
                item["attempts"] = len(BACKOFF)
                raise NotTwilio("not a Twilio API address")
            return twilio.download(config, str(item["url"]))

        return fetch

    def language(self, config: Any) -> str:
        return language_of(config)

    def describe(self, message_id: int, index: int, item: dict[str, Any], fetched: Fetched) -> tuple[str, str]:
        content_type = str(item.get("content_type") or fetched[1]).split(";")[0][:200]
        return f"mms-{message_id}-{index + 1}.{_EXTENSIONS.get(content_type, 'bin')}", content_type

    def failed(self, item: dict[str, Any], failure: Exception, language: str, now: datetime) -> list[str]:
        """Count the attempt and schedule the next; only the final failure writes a note."""
        reason = _reason(failure)
        if count_failure(item, reason, BACKOFF, now) is None:
            return [translate("sms.media.failed", language, reason=reason)]
        return []


def _reason(failure: Exception) -> str:
    if isinstance(failure, NotTwilio):
        return str(failure)
    status = failure.response.status_code if isinstance(failure, httpx.HTTPStatusError) else None
    return f"HTTP {status}" if status else type(failure).__name__


MEDIA = SmsMedia()
pending_messages = MEDIA.pending_messages
download_pending = MEDIA.download_pending
download_message = MEDIA.download_message
