"""The channel's background service, run by the worker (``Feature.POLLING``): media downloads and template sync."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from raccordo.channels.whatsapp import media, templates
from raccordo.channels.whatsapp.graph import GraphFailure
from raccordo.platform.runtime import Runtime

log = logging.getLogger(__name__)
# After a failed template sync, the inbox is tried again this much later (not at every pass).
RETRY_SYNC_AFTER = timedelta(minutes=10)


class WhatsAppService:
    """A media download pass every ``interval`` seconds, and each inbox's template sync when it is due."""

    def __init__(self, rt: Runtime, interval: float = 2.0) -> None:
        self.rt = rt
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="whatsapp-service", daemon=True)
        self._sync_failed: dict[int, datetime] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def run_once(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        media.download_pending(self.rt, now)
        for inbox_id in templates.due_inboxes(self.rt, now):
            failed = self._sync_failed.get(inbox_id)
            if failed is not None and now - failed < RETRY_SYNC_AFTER:
                continue
            try:
                templates.sync_templates(self.rt, inbox_id, now)
                self._sync_failed.pop(inbox_id, None)
            except GraphFailure as exc:  # the connection check names the cause; tried again later
                self._sync_failed[inbox_id] = now
                log.warning("whatsapp inbox %s: template sync failed: %s", inbox_id, exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # a database hiccup must not end the service; the next pass tries again
                log.exception("whatsapp background pass failed")
            self._stop.wait(self.interval)
