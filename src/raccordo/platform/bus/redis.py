"""Redis pub/sub bus: one channel, JSON messages, at most once between nodes.

``publish`` queues the message for a sender task, which sends whatever has queued up
in one pipeline on one connection: the node's messages keep their order, and a slow or
absent Redis never holds up the caller (a batch that fails is dropped and counted).

A second task holds the subscription. When Redis goes away the bus reports
``healthy = False``, keeps delivering locally, and retries with bounded backoff (0.2 s
doubling to 5 s) until ``stop()``. Once subscribed again it calls ``_reconnected`` and
only then reads live messages, so the node catches up from the database first. A
message may arrive twice around an outage (from the catch-up and live); handlers
deduplicate by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from raccordo.platform.bus.base import SUBJECT, Bus

log = logging.getLogger(__name__)

BACKOFF_FIRST = 0.2  # seconds before the first retry after a failure
BACKOFF_MAX = 5.0  # the wait between retries doubles up to this
CONNECT_TIMEOUT = 1.0  # TCP connect and the subscribe confirmation
SEND_TIMEOUT = 1.0  # one batch gives up after this and is dropped (it was already delivered locally)
BATCH_MAX = 500  # messages sent in one pipeline
OUTBOX_MAX = 10_000  # messages waiting for the sender; beyond this new ones are not sent to other nodes
DRAIN_TIMEOUT = 1.0  # stop() waits this long for queued messages to be sent
DROP_LOG_EVERY = 10.0  # seconds between warnings about dropped messages
START_WAIT = 3.0  # start() waits this long for the first subscription, then carries on unhealthy
PING_AFTER = 5.0  # an idle subscription sends a PING after this many seconds of silence ...
DEAD_AFTER = 15.0  # ... and is declared dead after this many (a half-open TCP connection)
POLL = 1.0  # how long one read waits before checking the clocks above


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


class RedisBus(Bus):
    """``redis://host:port/db`` (or ``rediss://``, ``unix://``); every node subscribes to one channel."""

    def __init__(self, url: str, subject: str = SUBJECT) -> None:
        super().__init__()
        self.url = url
        self.subject = subject
        self.reconnects = 0  # outages survived, for metrics
        self.dropped = 0  # messages not sent to other nodes, for metrics
        self._healthy = False
        self._outbox: asyncio.Queue[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._first_attempt: asyncio.Event | None = None
        self._last_drop_log = float("-inf")

    @property
    def healthy(self) -> bool:
        return self._healthy

    def _client(self, retries: int) -> Redis:
        # Short timeouts, so a dead or unreachable Redis fails fast.
        return Redis.from_url(
            self.url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=SEND_TIMEOUT,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), retries),
        )

    async def _connect(self) -> None:
        self._outbox = asyncio.Queue(OUTBOX_MAX)
        self._first_attempt = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._subscriber(), name=f"raccordo-redis-bus-subscriber-{self.node_id}"),
            asyncio.create_task(self._sender(self._outbox), name=f"raccordo-redis-bus-sender-{self.node_id}"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt.wait(), START_WAIT)

    async def _disconnect(self) -> None:
        outbox, self._outbox = self._outbox, None
        if outbox is not None and self._healthy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outbox.join(), DRAIN_TIMEOUT)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._healthy = False

    async def _publish_remote(self, message: dict[str, Any]) -> None:
        outbox = self._outbox
        if outbox is None:  # not started, or stopped
            return
        data = json.dumps(message, separators=(",", ":"))
        try:
            outbox.put_nowait(data)
        except asyncio.QueueFull:
            self._dropped(1, f"{OUTBOX_MAX} messages are waiting to be sent")

    async def _sender(self, outbox: asyncio.Queue[str]) -> None:
        """Send queued messages in order, in batches; a batch that fails is dropped."""
        # One retry, at once: after Redis restarts, the first batch finds the pooled
        # connection dead. (A retried batch could in theory be sent twice; handlers
        # deduplicate by id, and twice is better than never.)
        client = self._client(retries=1)
        try:
            while True:
                batch = [await outbox.get()]
                while len(batch) < BATCH_MAX and not outbox.empty():
                    batch.append(outbox.get_nowait())
                try:
                    async with asyncio.timeout(SEND_TIMEOUT):
                        async with client.pipeline(transaction=False) as pipe:
                            for data in batch:
                                pipe.publish(self.subject, data)
                            await pipe.execute()
                except Exception as exc:  # noqa: BLE001 - whatever it was, the sender lives on
                    # Local clients were served; the other nodes catch up from the database.
                    self._dropped(len(batch), f"{type(exc).__name__}: {exc}")
                finally:
                    for _ in batch:
                        outbox.task_done()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.aclose(), CONNECT_TIMEOUT)

    def _dropped(self, count: int, reason: str) -> None:
        self.dropped += count
        now = asyncio.get_running_loop().time()
        if self._healthy and now - self._last_drop_log >= DROP_LOG_EVERY:
            self._last_drop_log = now
            log.warning("redis bus: %d message(s) not sent to other nodes (%s; %d in all)", count, reason, self.dropped)
        else:  # a known outage, or already said
            log.debug("redis bus: %d message(s) not sent to other nodes (%s)", count, reason)

    async def _subscriber(self) -> None:
        """Subscribe, read until the connection fails, wait, repeat; until cancelled."""
        delay = BACKOFF_FIRST
        missed = False  # True once start() returned or a connection broke without a live subscription
        while True:
            client = self._client(retries=0)  # this class sees every failure: no silent resubscribe
            pubsub = client.pubsub()
            try:
                await self._subscribe(pubsub)
                self._healthy = True
                delay = BACKOFF_FIRST
                self._started()
                if missed:
                    missed = False
                    self.reconnects += 1
                    log.info("redis bus reconnected to %s", redact(self.url))
                    await self._catch_up()
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means "reconnect"
                if self._healthy or not missed:
                    log.warning(
                        "redis bus: %s unreachable (%s: %s); retrying", redact(self.url), type(exc).__name__, exc
                    )
                else:
                    log.debug("redis bus still down (%s: %s); next try in %.1f s", type(exc).__name__, exc, delay)
                self._healthy = False
                missed = True
                self._started()
            finally:
                await _close_quietly(pubsub, client)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    def _started(self) -> None:
        if self._first_attempt is not None:
            self._first_attempt.set()

    async def _subscribe(self, pubsub: PubSub) -> None:
        """Subscribe and wait for Redis to confirm, so nothing published after this is missed."""
        await pubsub.subscribe(self.subject)
        async with asyncio.timeout(CONNECT_TIMEOUT * 2):
            while True:
                reply = await pubsub.get_message(timeout=CONNECT_TIMEOUT)
                if reply is not None and reply["type"] == "subscribe":
                    return

    async def _read(self, pubsub: PubSub) -> None:
        """Deliver messages until the connection fails (raises); PINGs an idle connection."""
        loop = asyncio.get_running_loop()
        last_heard = last_ping = loop.time()
        while True:
            reply = await pubsub.get_message(timeout=POLL)
            now = loop.time()
            if reply is not None:
                last_heard = now
                if reply["type"] == "message":
                    await self._deliver(reply["data"])
                continue
            silent = now - last_heard
            if silent >= DEAD_AFTER:
                raise ConnectionError(f"no answer from redis for {silent:.0f} s")
            if silent >= PING_AFTER and now - last_ping >= PING_AFTER:
                last_ping = now
                await pubsub.ping()

    async def _deliver(self, data: bytes | str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("redis bus: skipping a message that is not JSON: %.200r", data)
            return
        if not isinstance(message, dict):
            log.warning("redis bus: skipping a message that is not an object: %.200r", data)
            return
        try:
            await self._received(message)
        except Exception:  # a failing handler must not stop the subscription
            log.exception("bus handler failed for a %s message", message.get("type"))

    async def _catch_up(self) -> None:
        try:
            await self._reconnected()
        except Exception:  # the subscription stays up; clients still resume from the database
            log.exception("bus reconnect callback failed")


async def _close_quietly(pubsub: PubSub, client: Redis) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(pubsub.aclose(), CONNECT_TIMEOUT)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.aclose(), CONNECT_TIMEOUT)
