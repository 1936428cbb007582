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
from datetime import datetime, timedelta
from typing import Any

from raccordo.channels.services import media_downloads
from raccordo.channels.services.media_downloads import Fetched, MediaSource
from raccordo.channels.whatsapp.config import graph_for, language_of
from raccordo.channels.whatsapp.graph import GraphFailure
from raccordo.channels.whatsapp.inbound import MEDIA_PENDING
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime

PENDING_FLAG = MEDIA_PENDING
# Seconds before each retry; after the last one the file is given up (Meta keeps media about 30 days).
BACKOFF = (10, 60, 300, 1800, 7200)


def _fetcher(rt: Runtime, config: Any) -> Callable[[dict[str, Any]], Fetched | GraphFailure]:
    graph = graph_for(config)

    def fetch(item: dict[str, Any]) -> Fetched | GraphFailure:
        try:
            return graph.download(str(item["id"]))
        except GraphFailure as exc:
            return exc

    return fetch


def _describe(message_id: int, index: int, item: dict[str, Any], fetched: Fetched) -> tuple[str, str]:
    filename = str(item.get("filename") or f"whatsapp-{item['kind']}-{item['id']}")[:300]
    return filename, str(item.get("mime_type") or fetched[1])[:200]


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


SOURCE = MediaSource(
    channel="whatsapp",
    details="whatsapp",
    pending_flag=PENDING_FLAG,
    note_of="whatsapp_media_of",
    fetcher=_fetcher,
    language=language_of,
    failed=_failed,
    describe=_describe,
)


def pending_messages(rt: Runtime, limit: int = 20) -> list[int]:
    """Inbound WhatsApp messages whose media is still to download, oldest first."""
    return media_downloads.pending_messages(rt, SOURCE, limit)


def download_pending(rt: Runtime, now: datetime | None = None) -> int:
    """One pass: download every due file; returns how many were stored."""
    return media_downloads.download_pending(rt, SOURCE, now)


def download_message(rt: Runtime, message_id: int, now: datetime) -> int:
    return media_downloads.download_message(rt, SOURCE, message_id, now)
