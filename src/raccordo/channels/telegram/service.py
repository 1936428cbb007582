"""The channel's service, run by the worker (``Feature.POLLING``): long polling for the inboxes in
polling mode, and the download of received files for every inbox.

Long polling (https://core.telegram.org/bots/api#getupdates): ``getUpdates`` with ``offset`` (one
more than the last update id handled) and ``timeout`` (Telegram holds the request until an update
arrives); an update is confirmed, and never sent again, once a later call names a higher offset.
So each batch is stored raw and committed first (``inbound.store_raw_many``), then the next
offset is saved on the inbox (``settings.polling_offset``), then each update is processed; a crash
before the commit fetches the batch again, a crash after it leaves the rows ``pending`` for the
worker's sweep, and processing is idempotent by message id either way: nothing is lost or stored
twice. Each polling inbox has a thread of its own, so one slow bot does not hold the others up.
Telegram refuses ``getUpdates`` while a webhook is set (409): saving an inbox in polling mode
deletes its webhook (``provision``), and the "check settings" button names the conflict.

One worker process should poll a bot: two pollers of one token make Telegram answer 409 to one of them.
"""

from __future__ import annotations

import json
import logging
import threading

from sqlalchemy import select

from raccordo.channels.base import InboundRequest
from raccordo.channels.models import Inbox
from raccordo.channels.services.inbound import inbox_config, process_raw, store_raw_many
from raccordo.channels.telegram import media
from raccordo.channels.telegram.botapi import BotApiFailure
from raccordo.channels.telegram.config import POLLING, bot_for
from raccordo.channels.telegram.updates import ALLOWED_UPDATES, callback_query_ids
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work

log = logging.getLogger(__name__)
OFFSET_KEY = "polling_offset"
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 2.0, 300.0


def polling_inboxes(rt: Runtime) -> list[int]:
    with unit_of_work(rt.sessions) as session:
        rows = session.execute(
            select(Inbox.id, Inbox.settings).where(Inbox.channel == "telegram", Inbox.active.is_(True))
        )
        return [inbox_id for inbox_id, settings in rows if (settings or {}).get("mode") == POLLING]


def poll_once(rt: Runtime, inbox_id: int, timeout: int) -> int:
    """One ``getUpdates`` for the inbox: stored, offset saved, processed; returns how many updates came."""
    with unit_of_work(rt.sessions) as session:
        inbox = session.get_one(Inbox, inbox_id)
        if not inbox.active or inbox.settings.get("mode") != POLLING:
            return 0
        config, identifier = inbox_config(rt, inbox), inbox.identifier
        offset = inbox.settings.get(OFFSET_KEY)
    bot = bot_for(config)
    updates = bot.get_updates(int(offset) if offset is not None else None, timeout, ALLOWED_UPDATES)
    updates = [u for u in updates if isinstance(u.get("update_id"), int)]
    if not updates:
        return 0
    requests = [
        InboundRequest.polled(f"telegram:getUpdates:{identifier}", json.dumps(u, separators=(",", ":")).encode())
        for u in updates
    ]
    stored = store_raw_many(rt, identifier, requests, channel="telegram")
    next_offset = max(int(u["update_id"]) for u in updates) + 1
    with unit_of_work(rt.sessions) as session:
        inbox = session.get_one(Inbox, inbox_id)
        inbox.settings = {**inbox.settings, OFFSET_KEY: next_offset}
    for payload in stored:
        try:
            process_raw(rt, payload)
        except Exception:  # noqa: BLE001 - recorded on the raw row; the next update goes on
            log.warning("telegram inbox %s: an update failed; its raw row keeps the error", inbox_id)
    for query_id in callback_query_ids(updates):
        try:
            bot.answer_callback_query(query_id)
        except BotApiFailure as exc:  # the button stops spinning by itself after a while
            log.info("telegram inbox %s: answerCallbackQuery failed: %s", inbox_id, exc.description)
    return len(updates)


class _InboxPoller:
    def __init__(self, rt: Runtime, inbox_id: int, timeout: int, stop: threading.Event) -> None:
        self.rt, self.inbox_id, self.timeout, self.stop = rt, inbox_id, timeout, stop
        self.thread = threading.Thread(target=self._run, name=f"telegram-poll-{inbox_id}", daemon=True)
        self.failures = 0

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                poll_once(self.rt, self.inbox_id, self.timeout)
                self.failures = 0
                continue
            except BotApiFailure as exc:
                self.failures += 1
                if self.failures == 1:
                    log.warning("telegram inbox %s: getUpdates failed: %s", self.inbox_id, exc)
            except Exception:  # a database hiccup must not end the poller; it tries again
                self.failures += 1
                log.exception("telegram inbox %s: polling failed", self.inbox_id)
            delay = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2.0 ** min(self.failures - 1, 10))
            self.stop.wait(delay)


class TelegramService:
    """Every ``interval`` seconds: start a poller for each inbox in polling mode (stopping those no
    longer polling), and a pass of file downloads. ``poll_timeout``: the long poll's seconds."""

    def __init__(self, rt: Runtime, interval: float = 2.0, poll_timeout: int = 25) -> None:
        self.rt, self.interval, self.poll_timeout = rt, interval, poll_timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telegram-service", daemon=True)
        self._pollers: dict[int, tuple[_InboxPoller, threading.Event]] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the service, then its pollers (a poller inside a long poll ends when Telegram answers:
        at most ``poll_timeout`` seconds; its thread is a daemon, so waiting longer is not needed)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        pollers = list(self._pollers.values())
        for _poller, stop in pollers:
            stop.set()
        for poller, _stop in pollers:
            poller.thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def polled_inboxes(self) -> set[int]:
        return {inbox_id for inbox_id, (poller, _) in self._pollers.items() if poller.thread.is_alive()}

    def run_once(self) -> None:
        wanted = set(polling_inboxes(self.rt))
        for inbox_id in list(self._pollers):
            poller, stop = self._pollers[inbox_id]
            if inbox_id not in wanted or not poller.thread.is_alive():
                stop.set()
                del self._pollers[inbox_id]
        for inbox_id in wanted - set(self._pollers):
            stop = threading.Event()
            poller = _InboxPoller(self.rt, inbox_id, self.poll_timeout, stop)
            self._pollers[inbox_id] = (poller, stop)
            poller.thread.start()
        media.download_pending(self.rt)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a database hiccup must not end the service; the next pass tries again
                log.exception("telegram service pass failed")
            self._stop.wait(self.interval)
