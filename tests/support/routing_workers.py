"""Real `raccordo worker` processes for the routing stress test, and the thread that relays this process's
commits to them over Redis so that every commit wakes their routing passes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from raccordo.platform.bus import make_bus

RACCORDO = str(Path(sys.executable).parent / "raccordo")
SECRET = "routing-stress-secret-key"
REDIS_URL = os.environ.get("RACCORDO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


# --- processes -----------------------------------------------------------------------------------


class Workers:
    """The real `raccordo worker` processes, with their logs; all stopped at the end, however it ends."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.env = {
            **os.environ,
            "RACCORDO_DATABASE_URL": database_url,
            "RACCORDO_DATA_DIR": str(tmp_path / "data"),
            "RACCORDO_SECRET_KEY": SECRET,
            "RACCORDO_BUS_URL": REDIS_URL,
            "RACCORDO_AUTO_MIGRATE": "false",
            "RACCORDO_WORKER_POLL_SECONDS": "0.2",
            "RACCORDO_EMAIL_POLLING": "false",
            "RACCORDO_LOG_LEVEL": "INFO",
        }
        self.tmp_path = tmp_path
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, count: int) -> None:
        for number in range(count):
            log = self.tmp_path / f"worker-{number}.log"
            with log.open("ab") as handle:
                self.running.append(
                    (subprocess.Popen([RACCORDO, "worker"], env=self.env, stdout=handle, stderr=subprocess.STDOUT), log)
                )

    def logs(self) -> str:
        return "\n".join(
            f"--- worker {n} ---\n{log.read_text(errors='replace')[-4000:]}" for n, (_, log) in enumerate(self.running)
        )

    def wait_started(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for process, log in self.running:
            while "raccordo worker started" not in log.read_text(errors="replace"):
                if process.poll() is not None:
                    pytest.fail(f"a worker exited with {process.returncode} on start:\n{self.logs()}", pytrace=False)
                if time.monotonic() > deadline:
                    pytest.fail(f"the workers did not start in {timeout} s:\n{self.logs()}", pytrace=False)
                time.sleep(0.05)

    def check_alive(self) -> None:
        for process, _ in self.running:
            if process.poll() is not None:
                pytest.fail(f"a worker exited with {process.returncode}:\n{self.logs()}", pytrace=False)

    def stop(self) -> list[int]:
        for process, _ in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = []
        for process, _ in self.running:
            try:
                codes.append(process.wait(timeout=20))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait(timeout=10))
        return codes


class BusThread:
    """This process's own bus, so its commits wake the workers as a serve process's would."""

    def __init__(self, url: str) -> None:
        self.bus = make_bus(url)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="stress-bus", daemon=True)
        self.thread.start()

        async def ignore(message: dict[str, Any]) -> None:
            return None

        asyncio.run_coroutine_threadsafe(self.bus.start(ignore), self.loop).result(timeout=20)

    def close(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.bus.stop(), self.loop).result(timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()
