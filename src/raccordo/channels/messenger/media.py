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
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from raccordo.channels.messenger.config import graph_for, language_of
from raccordo.channels.messenger.graph import SendFailure
from raccordo.channels.messenger.inbound import MEDIA_PENDING
from raccordo.channels.services import media_downloads
from raccordo.channels.services.media_downloads import Fetched, MediaSource
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime

log = logging.getLogger(__name__)
# Seconds before each retry; after the last one the file is given up (CDN URLs expire within days).
BACKOFF = (10, 60, 300, 1800)


def _fetcher(rt: Runtime, config: Any) -> Callable[[dict[str, Any]], Fetched | SendFailure]:
    graph = graph_for(config)

    def fetch(item: dict[str, Any]) -> Fetched | SendFailure:
        try:
            return graph.download(str(item["url"]), rt.settings.max_attachment_bytes)
        except SendFailure as exc:
            return exc

    return fetch


def _describe(message_id: int, index: int, item: dict[str, Any], fetched: Fetched) -> tuple[str, str]:
    content_type = fetched[1]
    return _filename(item, index, content_type), content_type[:200]


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


def source(kind: str) -> MediaSource:
    """The download pass's parts for one Meta channel (Messenger or Instagram: the same ``meta`` details)."""
    return MediaSource(
        channel=kind,
        details="meta",
        pending_flag=MEDIA_PENDING,
        note_of="meta_media_of",
        fetcher=_fetcher,
        language=language_of,
        failed=_failed,
        describe=_describe,
    )


def pending_messages(rt: Runtime, kind: str, limit: int = 20) -> list[int]:
    return media_downloads.pending_messages(rt, source(kind), limit)


def download_pending(rt: Runtime, kind: str, now: datetime | None = None) -> int:
    """One pass: download every due file of the channel's messages; returns how many were stored."""
    return media_downloads.download_pending(rt, source(kind), now)


def download_message(rt: Runtime, message_id: int, now: datetime) -> int:
    # The message's channel is read from the row; the parts do not depend on it past the query.
    return media_downloads.download_message(rt, source("messenger"), message_id, now)


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
