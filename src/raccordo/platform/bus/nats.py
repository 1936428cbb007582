"""NATS bus: one subject, JSON messages, at most once between nodes.

nats-py reconnects by itself (here: forever, one attempt per second) and replays the
subscription; ``healthy`` follows its connection state, and ``_reconnected`` runs once
the subscription is live again so the node catches up from the database. While
disconnected nats-py buffers publishes (up to ``PENDING_SIZE``) and sends them after
the reconnect, so other nodes may see a message both late and from their catch-up;
handlers deduplicate by event id. Beyond the buffer, publishes are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import StaleConnectionError, UnexpectedEOF

from raccordo.platform.bus.base import SUBJECT, Bus

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 1  # seconds, TCP connect and handshake
RECONNECT_WAIT = 1  # seconds between attempts to reach the server, forever
PUBLISH_TIMEOUT = 1.0  # a publish gives up after this (the message was already delivered locally)
START_WAIT = 3.0  # start() waits this long for the first connection, then carries on unhealthy
PING_INTERVAL = 5  # seconds; with MAX_OUTSTANDING_PINGS a silent (half-open) connection is dropped in ~15 s
MAX_OUTSTANDING_PINGS = 3
PENDING_SIZE = 1024 * 1024  # bytes buffered while reconnecting
CLOSE_TIMEOUT = 5.0


def redact(url: str) -> str:
    """The server list without passwords or tokens, for logs."""
    shown = []
    for server in url.split(","):
        parts = urlsplit(server.strip())
        if "@" in parts.netloc:
            parts = parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1])
        shown.append(urlunsplit(parts))
    return ",".join(shown)


class NatsBus(Bus):
    """``nats://host:4222`` (or ``tls://``, or several separated by commas); every node subscribes to one subject."""

    def __init__(self, url: str, subject: str = SUBJECT) -> None:
        super().__init__()
        self.url = url
        self.subject = subject
        self.reconnects = 0  # outages survived, for metrics
        self.dropped = 0  # messages not sent to other nodes (reconnect buffer full), for metrics
        self._nc: Client | None = None
        self._subscribed = False
        self._stopping = False
        self._start_returned = False
        self._first_attempt = asyncio.Event()  # set when the first connection succeeds or fails
        self._connecting: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def healthy(self) -> bool:
        return self._subscribed and self._nc is not None and self._nc.is_connected

    async def _connect(self) -> None:
        self._stopping = False
        self._start_returned = False
        self._first_attempt = asyncio.Event()
        self._nc = Client()
        connecting = self._connecting = asyncio.create_task(
            self._first_connect(self._nc), name=f"raccordo-nats-bus-{self.node_id}"
        )
        attempted = asyncio.create_task(self._first_attempt.wait())
        await asyncio.wait({connecting, attempted}, timeout=START_WAIT, return_when=asyncio.FIRST_COMPLETED)
        attempted.cancel()
        if connecting.done():
            connecting.result()  # a configuration error (a malformed URL) surfaces here
        else:
            log.warning("nats bus cannot reach %s yet; retrying every %s s", redact(self.url), RECONNECT_WAIT)
            connecting.add_done_callback(_log_failure)
        # From now on a first connection counts as a reconnect: this node may have missed messages.
        self._start_returned = True

    async def _first_connect(self, nc: Client) -> None:
        # With max_reconnect_attempts=-1 nats-py keeps trying the first connection too.
        await nc.connect(
            servers=[s.strip() for s in self.url.split(",") if s.strip()],
            name=f"raccordo-{self.node_id}",
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=RECONNECT_WAIT,
            connect_timeout=CONNECT_TIMEOUT,
            ping_interval=PING_INTERVAL,
            max_outstanding_pings=MAX_OUTSTANDING_PINGS,
            pending_size=PENDING_SIZE,
            flush_timeout=PUBLISH_TIMEOUT,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
            error_cb=self._on_error,
            closed_cb=self._on_closed,
        )
        await nc.subscribe(self.subject, cb=self._on_message)  # nats-py replays it after every reconnect
        await self._confirm(nc)
        self._subscribed = True
        self._first_attempt.set()
        if self._start_returned:
            self.reconnects += 1
            log.info("nats bus connected to %s", redact(self.url))
            await self._catch_up()

    async def _confirm(self, nc: Client) -> None:
        """Return once the server has the subscription, however long the connection takes.

        A PING sent after SUB and answered proves it. nats-py writes a flush's PING
        straight to the socket while SUB may still wait for the flusher task, so the
        first PONG proves nothing; the second one does.
        """
        while True:
            if nc.is_connected:
                try:
                    await nc.flush(timeout=CONNECT_TIMEOUT * 2)
                    await nc.flush(timeout=CONNECT_TIMEOUT * 2)
                    return
                except (NatsError, OSError, TimeoutError) as exc:  # the connection dropped meanwhile
                    log.debug("nats bus: subscription not confirmed yet (%s)", exc)
            await asyncio.sleep(0.1)

    async def _disconnect(self) -> None:
        self._stopping = True
        connecting, self._connecting = self._connecting, None
        tasks = [*self._tasks, *([connecting] if connecting is not None else [])]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        nc, self._nc = self._nc, None
        self._subscribed = False
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), CLOSE_TIMEOUT)

    async def _publish_remote(self, message: dict[str, Any]) -> None:
        nc = self._nc
        if nc is None or not self._subscribed:  # not started, stopped, or never connected yet
            return
        data = json.dumps(message, separators=(",", ":")).encode()
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                await nc.publish(self.subject, data)
        except (NatsError, OSError, TimeoutError) as exc:
            if self.healthy:
                raise  # unexpected: Bus.publish logs it
            # Known outage and the reconnect buffer is full: others catch up from the database.
            self.dropped += 1
            log.debug("nats bus down, message not sent to other nodes: %s", exc)

    async def _on_message(self, msg: Msg) -> None:
        try:
            message = json.loads(msg.data)
        except ValueError:
            log.warning("nats bus: skipping a message that is not JSON: %.200r", msg.data)
            return
        if not isinstance(message, dict):
            log.warning("nats bus: skipping a message that is not an object: %.200r", msg.data)
            return
        try:
            await self._received(message)
        except Exception:  # a failing handler must not stop the subscription
            log.exception("bus handler failed for a %s message", message.get("type"))

    async def _on_disconnected(self) -> None:
        if not self._stopping and self._subscribed:
            log.warning("nats bus lost %s; reconnecting", redact(self.url))

    async def _on_reconnected(self) -> None:
        # nats-py has replayed the subscription and flushed before calling this. The
        # catch-up runs on its own task: nats-py awaits this callback inside its
        # reconnect logic, which must not wait on the database.
        self.reconnects += 1
        log.info("nats bus reconnected to %s", redact(self.url))
        task = asyncio.create_task(self._catch_up())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_error(self, exc: Exception) -> None:
        self._first_attempt.set()  # start() stops waiting: the server is not there yet
        if self._stopping:
            return
        if self.healthy and not isinstance(exc, (OSError, UnexpectedEOF, StaleConnectionError)):
            log.warning("nats bus error: %s: %s", type(exc).__name__, exc)
        else:
            log.debug("nats bus connection error: %s: %s", type(exc).__name__, exc)

    async def _on_closed(self) -> None:
        if not self._stopping:
            log.error("nats bus connection to %s closed for good; restart the process", redact(self.url))

    async def _catch_up(self) -> None:
        try:
            await self._reconnected()
        except Exception:  # the subscription stays up; clients still resume from the database
            log.exception("bus reconnect callback failed")


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("nats bus could not connect: %s", task.exception())
