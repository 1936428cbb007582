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
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from raccordo.channels.services import media_downloads
from raccordo.channels.services.media_downloads import Fetched, MediaSource
from raccordo.channels.telegram.botapi import BotApiFailure
from raccordo.channels.telegram.config import bot_for, language_of
from raccordo.channels.telegram.updates import MEDIA_PENDING
from raccordo.platform.i18n import translate
from raccordo.platform.runtime import Runtime

BACKOFF = (10, 60, 300, 1800, 7200)


def _fetch(rt: Runtime, config: Any, file_id: str) -> tuple[bytes, str]:
    bot = bot_for(config)
    info = bot.get_file(file_id)
    path = str(info.get("file_path") or "")
    if not path:
        raise BotApiFailure("getFile", 400, "no file_path (larger than 20 MB?)")
    return bot.download(path), path


def _fetcher(rt: Runtime, config: Any) -> Callable[[dict[str, Any]], Fetched | BotApiFailure]:
    def fetch(item: dict[str, Any]) -> Fetched | BotApiFailure:
        try:
            return _fetch(rt, config, str(item["file_id"]))
        except BotApiFailure as exc:
            return exc

    return fetch


def _describe(message_id: int, index: int, item: dict[str, Any], fetched: Fetched) -> tuple[str, str]:
    path = fetched[1]
    extension = mimetypes.guess_extension(str(item.get("mime_type") or "")) or ""
    filename = item.get("filename") or path.rsplit("/", 1)[-1] or f"telegram-{item['kind']}{extension}"
    return str(filename)[:300], str(item.get("mime_type") or "application/octet-stream")[:200]


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


SOURCE = MediaSource(
    channel="telegram",
    details="telegram",
    pending_flag=MEDIA_PENDING,
    note_of="telegram_media_of",
    fetcher=_fetcher,
    language=language_of,
    failed=_failed,
    describe=_describe,
)


def pending_messages(rt: Runtime, limit: int = 20) -> list[int]:
    return media_downloads.pending_messages(rt, SOURCE, limit)


def download_pending(rt: Runtime, now: datetime | None = None) -> int:
    """One pass: download every due file; returns how many were stored."""
    return media_downloads.download_pending(rt, SOURCE, now)


def download_message(rt: Runtime, message_id: int, now: datetime) -> int:
    return media_downloads.download_message(rt, SOURCE, message_id, now)
