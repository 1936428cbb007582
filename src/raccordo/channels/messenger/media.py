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
from datetime import datetime
from typing import Any

from raccordo.channels.messenger.config import graph_for, language_of
from raccordo.channels.messenger.graph import SendFailure
from raccordo.channels.messenger.inbound import MEDIA_PENDING
from raccordo.channels.services.media_downloads import Fetched, MediaDownloads, count_failure, failure_notes
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime

log = logging.getLogger(__name__)
# Seconds before each retry; after the last one the file is given up (CDN URLs expire within days).
BACKOFF = (10, 60, 300, 1800)


class MetaMedia(MediaDownloads):
    """Attachments as CDN URLs, for Messenger or Instagram (``kind``): both keep them under ``meta``."""

    details, pending_flag, failures = "meta", MEDIA_PENDING, (SendFailure,)

    def __init__(self, kind: str) -> None:
        self.channel = kind

    def fetcher(self, rt: Runtime, config: Any) -> Callable[[dict[str, Any]], Fetched]:
        graph = graph_for(config)
        return lambda item: graph.download(str(item["url"]), rt.settings.max_attachment_bytes)

    def language(self, config: Any) -> str:
        return language_of(config)

    def describe(self, message_id: int, index: int, item: dict[str, Any], fetched: Fetched) -> tuple[str, str]:
        return _filename(item, index, fetched[1]), fetched[1][:200]

    def failed(self, item: dict[str, Any], failure: SendFailure, language: str, now: datetime) -> list[str]:
        """Count the attempt and schedule the next; the notes to write (first failure, final failure)."""
        reason = failure.error.describe()
        gone = failure.error.http_status in (403, 404, 410, 413)
        attempt = count_failure(item, reason, BACKOFF, now, give_up=gone)
        kind = translate(f"meta.inbound.{item.get('kind', 'file')}", language)
        return failure_notes("meta", attempt, language, kind=kind, reason=reason)


def _filename(item: dict[str, Any], index: int, content_type: str) -> str:
    path = str(item["url"]).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    if path and "." in path:
        return path[:300]
    extension = {"image/jpeg": ".jpg", "image/png": ".png", "video/mp4": ".mp4", "audio/mpeg": ".mp3"}.get(
        content_type, ""
    )
    return f"{item.get('kind', 'file')}-{index + 1}{extension}"


def pending_messages(rt: Runtime, kind: str, limit: int = 20) -> list[int]:
    return MetaMedia(kind).pending_messages(rt, limit)


def download_pending(rt: Runtime, kind: str, now: datetime | None = None) -> int:
    """One pass: download every due file of the channel's messages; returns how many were stored."""
    return MetaMedia(kind).download_pending(rt, now)


def download_message(rt: Runtime, message_id: int, now: datetime) -> int:
    # Which of the two channels only narrows the query of pending messages; one message is the same for both.
    return MetaMedia("messenger").download_message(rt, message_id, now)


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
