"""Event buses against real brokers for the bus tests: the shared brokers' URLs, nodes on a private subject,
events, and bounded waits.

The shared brokers are the machine's Redis (RACCORDO_TEST_REDIS_URL, default 127.0.0.1:6379) and NATS
(RACCORDO_TEST_NATS_URL, default 127.0.0.1:4222); one that cannot be reached fails the test with how to
start it, it is never skipped. Every wait is bounded, so a broken bus fails fast instead of hanging.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from raccordo.platform.bus import Bus
from raccordo.platform.bus.nats import NatsBus
from raccordo.platform.bus.redis import RedisBus
from tests.support.servers import reachable

REDIS_URL = os.environ.get("RACCORDO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
NATS_URL = os.environ.get("RACCORDO_TEST_NATS_URL", "nats://127.0.0.1:4222")
HOW_TO_START = {
    "redis": "start it with: redis-server --daemonize yes (or set RACCORDO_TEST_REDIS_URL)",
    "nats": "start it with: nats-server -a 127.0.0.1 -p 4222 & (or set RACCORDO_TEST_NATS_URL)",
}
BUS_CLASSES: dict[str, type[RedisBus] | type[NatsBus]] = {"redis": RedisBus, "nats": NatsBus}
KINDS = ["redis", "nats"]


def run(coroutine: Coroutine[Any, Any, None], timeout: float = 60) -> None:
    """Run one async test with an overall bound."""

    async def bounded() -> None:
        await asyncio.wait_for(coroutine, timeout)

    asyncio.run(bounded())


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


def broker_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or {"redis": 6379, "nats": 4222}[parts.scheme]


def shared_url(kind: str) -> str:
    url = {"redis": REDIS_URL, "nats": NATS_URL}[kind]
    if not reachable(*broker_address(url)):
        pytest.fail(f"{kind} at {url} is not reachable; {HOW_TO_START[kind]}", pytrace=False)
    return url


class Node:
    """One process's view of the bus: what its handler received and how often it caught up."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.received: list[dict[str, Any]] = []
        self.catch_ups = 0

    async def handle(self, message: dict[str, Any]) -> None:
        self.received.append(message)

    async def catch_up(self) -> None:
        self.catch_ups += 1

    def ids(self, run_id: str) -> list[int]:
        return [m["id"] for m in self.received if m.get("run") == run_id]


def new_bus(kind: str, url: str, subject: str) -> Bus:
    return BUS_CLASSES[kind](url, subject=subject)


@asynccontextmanager
async def nodes(kind: str, url: str, count: int = 2, *, wait_healthy: bool = True) -> Any:
    """``count`` started buses on one private subject; stopped however the test ends."""
    subject = f"raccordo.test.{uuid.uuid4().hex[:12]}"
    started: list[Node] = []
    try:
        for _ in range(count):
            node = Node(new_bus(kind, url, subject))
            await asyncio.wait_for(node.bus.start(node.handle, node.catch_up), 10)
            started.append(node)
        if wait_healthy:
            await wait_until(lambda: all(n.bus.healthy for n in started), f"{kind} buses to be healthy")
        yield started
    finally:
        for node in started:
            await asyncio.wait_for(node.bus.stop(), 10)


def event(run_id: str, number: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "event",
        "id": number,
        "run": run_id,
        "tenant_id": 1,
        "kind": "message.created",
        "payload": {"n": number},
        **extra,
    }


async def settle() -> None:
    """Give a duplicate, if the bus were to send one, time to arrive."""
    await asyncio.sleep(0.3)
