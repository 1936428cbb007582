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
from datetime import datetime
from typing import Any

from raccordo.channels.services.media_downloads import Fetched, MediaDownloads, count_failure, failure_notes
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


class TelegramMedia(MediaDownloads):
    """Files named by ``file_id``: ``getFile`` answers the path; what is fetched is (bytes, path)."""

    channel = details = "telegram"
    pending_flag, failures = MEDIA_PENDING, (BotApiFailure,)

    def fetcher(self, rt: Runtime, config: Any) -> Callable[[dict[str, Any]], Fetched]:
        return lambda item: _fetch(rt, config, str(item["file_id"]))

    def language(self, config: Any) -> str:
        return language_of(config)

    def describe(self, message_id: int, index: int, item: dict[str, Any], fetched: Fetched) -> tuple[str, str]:
        extension = mimetypes.guess_extension(str(item.get("mime_type") or "")) or ""
        filename = item.get("filename") or fetched[1].rsplit("/", 1)[-1] or f"telegram-{item['kind']}{extension}"
        return str(filename)[:300], str(item.get("mime_type") or "application/octet-stream")[:200]

    def failed(self, item: dict[str, Any], failure: BotApiFailure, language: str, now: datetime) -> list[str]:
        reason = f"{failure.error_code or '-'} {failure.description}".strip()
        # A 400 (file too big for bots, file id unknown) will not get better.
        attempt = count_failure(item, reason, BACKOFF, now, give_up=failure.error_code == 400)
        kind = translate(
            f"telegram.inbound.{item.get('kind', 'document')}", language, filename=item.get("filename") or ""
        )
        return failure_notes("telegram", attempt, language, kind=kind, reason=reason)


MEDIA = TelegramMedia()
pending_messages = MEDIA.pending_messages
download_pending = MEDIA.download_pending
download_message = MEDIA.download_message
