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

from collections.abc import Callable
from datetime import datetime
from typing import Any

from raccordo.channels.services.media_downloads import Fetched, MediaDownloads, count_failure, failure_notes
from raccordo.channels.whatsapp.config import graph_for, language_of
from raccordo.channels.whatsapp.graph import GraphFailure
from raccordo.channels.whatsapp.inbound import MEDIA_PENDING
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime

PENDING_FLAG = MEDIA_PENDING
# Seconds before each retry; after the last one the file is given up (Meta keeps media about 30 days).
BACKOFF = (10, 60, 300, 1800, 7200)


class WhatsAppMedia(MediaDownloads):
    """Media named by id: ``GET /{media-id}`` answers the URL, fetched with the same token."""

    channel = details = "whatsapp"
    pending_flag, failures = PENDING_FLAG, (GraphFailure,)

    def fetcher(self, rt: Runtime, config: Any) -> Callable[[dict[str, Any]], Fetched]:
        graph = graph_for(config)
        return lambda item: graph.download(str(item["id"]))

    def language(self, config: Any) -> str:
        return language_of(config)

    def describe(self, message_id: int, index: int, item: dict[str, Any], fetched: Fetched) -> tuple[str, str]:
        filename = str(item.get("filename") or f"whatsapp-{item['kind']}-{item['id']}")[:300]
        return filename, str(item.get("mime_type") or fetched[1])[:200]

    def failed(self, item: dict[str, Any], failure: GraphFailure, language: str, now: datetime) -> list[str]:
        """Count the attempt and schedule the next; the notes to write (first failure, final failure)."""
        kind = translate(
            f"whatsapp.inbound.{item.get('kind', 'document')}", language, filename=item.get("filename") or ""
        )
        reason = failure.error.explain(language)
        gone = not failure.error.retryable and failure.error.http_status in (400, 404)
        attempt = count_failure(item, reason, BACKOFF, now, give_up=gone)
        return failure_notes("whatsapp", attempt, language, kind=kind, reason=reason)


MEDIA = WhatsAppMedia()
pending_messages = MEDIA.pending_messages
download_pending = MEDIA.download_pending
download_message = MEDIA.download_message
