"""The channel's background service, run by the worker (``Feature.POLLING``): MMS downloads."""

from __future__ import annotations

import logging
import threading

from raccordo.channels.sms import media
from raccordo.platform.runtime import Runtime

log = logging.getLogger(__name__)


class SmsService:
    """A media download pass every ``interval`` seconds."""

    def __init__(self, rt: Runtime, interval: float = 2.0) -> None:
        self.rt = rt
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sms-service", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                media.download_pending(self.rt)
            except Exception:  # a database hiccup must not end the service; the next pass tries again
                log.exception("sms background pass failed")
            self._stop.wait(self.interval)
