"""The worker: one loop that runs the durable work kept in the database.

Each pass delivers due outbox rows, runs due jobs (timers), and now and then reprocesses
inbound payloads a crash left pending. Between passes it sleeps
``RACCORDO_WORKER_POLL_SECONDS`` unless woken: by ``wake()`` in the same process, or by a
``{"type": "wake"}`` message on the bus from another one. Wake-ups only shorten the
wait: a lost one delays work by at most one poll interval and never loses it, because
the rows are the work.

Beside the loop run the pollers of the channels that declare ``Feature.POLLING`` (the email
channel's polls IMAP mailboxes and runs the SMTP forwarding receiver), found in the registry.

``serve`` runs one loop in a thread (the embedded default); ``raccordo worker`` runs it
as its own process with ``WorkerLoop.run``, which also owns the process's bus. Any
number of loops, in any number of processes, can run against one database: rows are
claimed under a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raccordo.bootstrap.install import install
from raccordo.channels.base import Feature, Poller
from raccordo.channels.registry import channels
from raccordo.channels.services import delivery
from raccordo.desk import search_backlog
from raccordo.platform import jobs
from raccordo.platform.bus import Bus
from raccordo.platform.events import Publisher, wakeups
from raccordo.platform.runtime import Runtime
from raccordo.routing.services import routing_pass

log = logging.getLogger(__name__)

WAKE: dict[str, Any] = {"type": "wake"}
BATCH = 20
REPROCESS_EVERY = 30.0  # seconds between sweeps for stuck inbound payloads
MAX_ERROR_WAIT = 30.0  # the wait after failing passes doubles up to this (e.g. the database is down)


@dataclass
class PassResult:
    sent: int = 0
    jobs: int = 0
    reprocessed: int = 0
    routed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.jobs + self.reprocessed + self.routed


def _never() -> bool:
    return False


def deliver_due(rt: Runtime, stopping: Callable[[], bool] = _never, batch: int = BATCH) -> int:
    """Send every due outbox row; claimed rows left when ``stopping()`` turns true are released."""
    done = 0
    while not stopping():
        ids = delivery.claim_due(rt, batch)
        for index, outbox_id in enumerate(ids):
            if stopping():
                delivery.release(rt, ids[index:])
                return done
            delivery.deliver_isolated(rt, outbox_id)  # one row's error stays with that row
            done += 1
        if len(ids) < batch:
            break
    return done


def run_due_jobs(rt: Runtime, stopping: Callable[[], bool] = _never, batch: int = BATCH) -> int:
    """Run every due job; claimed jobs left when ``stopping()`` turns true are released."""
    done = 0
    while not stopping():
        ids = jobs.claim_due(rt, batch)
        for index, job_id in enumerate(ids):
            if stopping():
                jobs.release(rt, ids[index:])
                return done
            jobs.run_job_isolated(rt, job_id)
            done += 1
        if len(ids) < batch:
            break
    return done


def run_once(rt: Runtime, *, reprocess: bool = True, stopping: Callable[[], bool] = _never) -> PassResult:
    """One pass over everything due now: outbox, jobs, and (with ``reprocess``) stuck inbound payloads."""
    from raccordo.channels.services.inbound import reprocess_pending

    result = PassResult()
    # Each step runs even when another failed: a failure in one must not stop the others' work.
    # Inside each, every row (send, job, tenant's routing pass, payload) has its own transaction.
    failed: list[str] = []
    result.sent = _step("delivery", failed, deliver_due, rt, stopping)
    result.jobs = _step("jobs", failed, run_due_jobs, rt, stopping)
    if not stopping():
        result.routed = _step("routing", failed, routing_pass.route_due, rt)
    if reprocess and not stopping():
        result.reprocessed = _step("reprocess", failed, reprocess_pending, rt)
    if not stopping():  # search entries a crash left unwritten after their message's commit
        _step("search", failed, search_backlog.sweep, rt.sessions)
    if failed:  # the loop backs off (the database may be away) after running what it could
        raise PassFailed(", ".join(failed))
    return result


class PassFailed(Exception):
    """Some steps of a pass failed (each is logged); the others ran."""


def _step(name: str, failed: list[str], run: Callable[..., int], *args: Any) -> int:
    try:
        return run(*args)
    except Exception:
        log.exception("worker step %s failed", name)
        failed.append(name)
        return 0


def bus_publisher(bus: Bus) -> Publisher:
    """Announce committed events on the bus with the one wake-up rule (``events.wakeups``):
    the hubs of the serve processes pump them to their clients; workers wake for new work."""

    def publish(committed: list[dict[str, Any]]) -> None:
        for message in wakeups(committed):
            bus.publish_threadsafe(message)

    return publish


class WorkerLoop:
    """A background thread running ``run_once`` until stopped; ``wake()`` starts a pass at once."""

    def __init__(self, rt: Runtime, bus: Bus | None = None, *, reprocess_every: float = REPROCESS_EVERY) -> None:
        install()  # tables, channels (their pollers below), domain-event subscriptions (SLA timers, snooze ends)
        self.rt = rt
        self.bus = bus
        self.reprocess_every = reprocess_every
        self.passes = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="raccordo-worker", daemon=True)
        # The channels' pollers (IMAP and the SMTP receiver, for email) run beside the loop, each its own way.
        self.pollers: dict[str, Poller] = {}
        for channel in channels():
            if channel.supports(Feature.POLLING):
                poller = channel.poller(rt)
                if poller is not None:
                    self.pollers[channel.kind] = poller

    # --- thread ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        for poller in self.pollers.values():
            poller.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the item in progress, release the rest of the claimed batch, and join."""
        self._stop.set()
        self._wake.set()
        for kind, poller in self.pollers.items():
            try:
                poller.stop()
            except Exception:  # one channel's poller failing to stop must not keep the others running
                log.exception("the %s poller did not stop cleanly", kind)
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                log.warning(
                    "worker thread still busy after %.0f s; leaving it (its claims expire with their lease)", timeout
                )

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    async def on_bus_message(self, message: dict[str, Any]) -> None:
        """Bus handler: a ``{"type": "wake"}`` message starts a pass now. Chain it where the bus has another owner."""
        if message.get("type") == "wake":
            self.wake()

    def _run(self) -> None:
        from raccordo.channels.services.raw_retention import ensure_purge_job

        try:
            ensure_purge_job(self.rt)  # the retention of raw payloads runs as a job
        except Exception:  # the database may be away; the next start tries again
            log.exception("could not schedule the raw payload retention job")
        poll = max(0.01, float(self.rt.settings.worker_poll_seconds))
        last_reprocess = float("-inf")
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()  # before the pass: a wake-up during it triggers another one
            reprocess = time.monotonic() - last_reprocess >= self.reprocess_every
            try:
                run_once(self.rt, reprocess=reprocess, stopping=self._stop.is_set)
                if reprocess:
                    last_reprocess = time.monotonic()
                failures = 0
            except Exception:  # the database may be away: keep trying, less often
                failures += 1
                log.exception("worker pass failed (%d in a row)", failures)
            self.passes += 1
            wait = poll if failures == 0 else min(MAX_ERROR_WAIT, poll * 2 ** min(failures, 16))
            self._wake.wait(wait)

    # --- own process -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run as a process of its own until ``stop`` is set: the bus (for wake-ups in, events out) and the thread."""
        bus = self.bus
        if bus is not None:
            await bus.start(self.on_bus_message, on_reconnect=self._after_bus_outage)
            self.rt.publisher = bus_publisher(bus)
        self.start()
        log.info(
            "raccordo worker started: node %s, bus %s, poll %.2f s, lease %.0f s",
            bus.node_id if bus else "-",
            bus.kind if bus else "none",
            self.rt.settings.worker_poll_seconds,
            self.rt.settings.delivery_lease_seconds,
        )
        try:
            await stop.wait()
        finally:
            log.info("raccordo worker stopping")
            await asyncio.to_thread(self.stop)
            if bus is not None:
                self.rt.publisher = None
                await bus.stop()
            log.info("raccordo worker stopped")

    async def _after_bus_outage(self) -> None:
        self.wake()  # wake-ups may have been lost while the broker was away
