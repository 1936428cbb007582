"""The event bus against real brokers: two nodes per broker, order, and outages.

Normal paths use the machine's Redis (RACCORDO_TEST_REDIS_URL, default 127.0.0.1:6379)
and NATS (RACCORDO_TEST_NATS_URL, default 127.0.0.1:4222); a broker that cannot be
reached fails the run with how to start it, it is never skipped. Outage tests start a
private server on a free port, kill it and start it again on the same port. Each test
uses its own subject, so it neither sees nor disturbs anything else on the broker.
Every wait is bounded, so a broken bus fails fast instead of hanging.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest

from raccordo.platform.bus import Bus, MemoryBus, make_bus
from raccordo.platform.bus.base import SUBJECT
from raccordo.platform.bus.nats import NatsBus
from raccordo.platform.bus.redis import RedisBus
from tests.support.servers import PrivateServer, reachable

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


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or {"redis": 6379, "nats": 4222}[parts.scheme]


def shared_url(kind: str) -> str:
    url = {"redis": REDIS_URL, "nats": NATS_URL}[kind]
    if not reachable(*_address(url)):
        pytest.fail(f"{kind} at {url} is not reachable; {HOW_TO_START[kind]}", pytrace=False)
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_server(kind: str) -> Iterator[PrivateServer]:
    server = PrivateServer(kind)
    try:
        yield server
    finally:
        server.kill()


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


# --- choosing an implementation ---------------------------------------------------------


def test_make_bus_picks_the_implementation_from_the_url() -> None:
    assert type(make_bus("")) is MemoryBus
    assert type(make_bus("memory://")) is MemoryBus
    for url in ("redis://127.0.0.1:6379/0", "rediss://user:secret@redis.example:6380/1", "unix:///run/redis.sock"):
        bus = make_bus(url)
        assert type(bus) is RedisBus and bus.url == url and bus.subject == SUBJECT
        assert not bus.healthy  # constructing connects to nothing
    for url in ("nats://127.0.0.1:4222", "tls://nats.example:4222"):
        bus = make_bus(url)
        assert type(bus) is NatsBus and bus.url == url and bus.subject == SUBJECT
        assert not bus.healthy


def test_logged_urls_hide_passwords() -> None:
    from raccordo.platform.bus.nats import redact as redact_nats
    from raccordo.platform.bus.redis import redact as redact_redis

    assert redact_redis("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact_redis("rediss://app:s3cret@cache:6380/1") == "rediss://app:***@cache:6380/1"
    assert redact_redis("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    shown = redact_nats("nats://app:s3cret@n1:4222, nats://tok3n@n2:4222")
    assert "s3cret" not in shown and "tok3n" not in shown and "n1:4222" in shown and "n2:4222" in shown


@pytest.mark.parametrize("url", ["kafka://broker:9092", "http://127.0.0.1:6379", "127.0.0.1:6379"])
def test_make_bus_rejects_an_unknown_scheme(url: str) -> None:
    with pytest.raises(ValueError, match=r"RACCORDO_BUS_URL must start with memory://, redis:// or nats://"):
        make_bus(url)


def test_memory_bus_delivers_locally_once() -> None:
    async def scenario() -> None:
        node = Node(MemoryBus())
        await node.bus.start(node.handle, node.catch_up)
        assert node.bus.healthy
        await node.bus.publish(event("m", 1))
        await node.bus.publish({"type": "typing", "run": "m", "id": 2, "conversation_id": 7})
        assert node.ids("m") == [1, 2]
        assert all(m["origin"] == node.bus.node_id for m in node.received)
        await node.bus.stop()

    run(scenario())


# --- two nodes on the machine's brokers -------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_message_reaches_the_other_node_and_the_own_node_once(kind: str) -> None:
    url = shared_url(kind)

    async def scenario() -> None:
        async with nodes(kind, url) as (a, b):
            run_id = uuid.uuid4().hex
            await a.bus.publish(event(run_id, 1))
            assert a.ids(run_id) == [1]  # local delivery happens before publish returns
            await wait_until(lambda: b.ids(run_id) == [1], f"node B to receive the message over {kind}")
            await b.bus.publish({"type": "typing", "run": run_id, "id": 2, "conversation_id": 7, "user_id": 3})
            await wait_until(lambda: a.ids(run_id) == [1, 2], f"node A to receive B's typing message over {kind}")
            await settle()
            assert a.ids(run_id) == [1, 2], "A must not get its own message back from the broker"
            assert b.ids(run_id) == [1, 2]
            first = next(m for m in b.received if m.get("run") == run_id)
            assert first["origin"] == a.bus.node_id and first["payload"] == {"n": 1}
            assert a.catch_ups == b.catch_ups == 0

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_a_burst_keeps_its_order(kind: str) -> None:
    url = shared_url(kind)

    async def scenario() -> None:
        async with nodes(kind, url) as (a, b):
            run_id = uuid.uuid4().hex
            expected = list(range(500))
            for number in expected:
                await a.bus.publish(event(run_id, number))
            await wait_until(lambda: len(b.ids(run_id)) >= 500, f"500 messages over {kind}", timeout=15)
            await settle()
            assert a.ids(run_id) == expected
            assert b.ids(run_id) == expected

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_a_burst_from_a_worker_thread_keeps_its_order(kind: str) -> None:
    """Services publish from worker threads through publish_threadsafe."""
    url = shared_url(kind)

    async def scenario() -> None:
        async with nodes(kind, url) as (a, b):
            run_id = uuid.uuid4().hex
            expected = list(range(500))
            thread = threading.Thread(target=lambda: [a.bus.publish_threadsafe(event(run_id, n)) for n in expected])
            thread.start()
            await asyncio.to_thread(thread.join, 10)
            await wait_until(lambda: len(b.ids(run_id)) >= 500, f"500 messages over {kind}", timeout=15)
            await settle()
            assert a.ids(run_id) == expected
            assert b.ids(run_id) == expected

    run(scenario())


@pytest.mark.parametrize("kind", KINDS)
def test_a_malformed_message_is_skipped_and_the_subscription_survives(kind: str) -> None:
    url = shared_url(kind)

    async def scenario() -> None:
        async with nodes(kind, url, count=1) as (b,):
            run_id = uuid.uuid4().hex
            subject = b.bus.subject  # type: ignore[attr-defined]
            await raw_publish(
                kind,
                url,
                subject,
                [b"not json", b"[1, 2]", b'{"type": "event", "id": 1, "run": "' + run_id.encode() + b'"}'],
            )
            await wait_until(lambda: b.ids(run_id) == [1], f"the valid message after two malformed ones over {kind}")
            assert b.bus.healthy

    run(scenario())


async def raw_publish(kind: str, url: str, subject: str, payloads: list[bytes]) -> None:
    """Publish bytes as some other, broken, node would."""
    if kind == "redis":
        from redis.asyncio import Redis

        client = Redis.from_url(url)
        try:
            for payload in payloads:
                await client.publish(subject, payload)
        finally:
            await client.aclose()
    else:
        import nats

        nc = await nats.connect(url)
        try:
            for payload in payloads:
                await nc.publish(subject, payload)
            await nc.flush()
        finally:
            await nc.close()


# --- outages, on a private server -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_bus_survives_the_broker_going_away_and_coming_back(kind: str) -> None:
    async def scenario() -> None:
        with private_server(kind) as server:
            await server.start()
            async with nodes(kind, server.url) as (a, b):
                run_id = uuid.uuid4().hex
                await a.bus.publish(event(run_id, 1))
                await wait_until(lambda: b.ids(run_id) == [1], "the first message before the outage")
                await b.bus.publish(event(run_id, 10))  # B publishes nothing during the outage
                await wait_until(lambda: a.ids(run_id) == [1, 10], "B's message before the outage")

                server.kill()
                await wait_until(
                    lambda: not a.bus.healthy and not b.bus.healthy, f"both buses to notice {kind} is gone"
                )

                began = time.monotonic()
                await a.bus.publish(event(run_id, 2))
                took = time.monotonic() - began
                assert took < 2, f"publish during the outage took {took:.2f} s"
                assert a.ids(run_id) == [1, 10, 2], "local delivery goes on during the outage"

                began = time.monotonic()
                await a.bus.publish({"type": "wake", "run": run_id, "id": 3})
                assert time.monotonic() - began < 2
                assert a.ids(run_id) == [1, 10, 2, 3]

                await server.start()  # the same port
                await wait_until(
                    lambda: a.bus.healthy and b.bus.healthy, f"both buses to reconnect to {kind}", timeout=10
                )
                await wait_until(lambda: a.catch_ups >= 1 and b.catch_ups >= 1, "the reconnect callbacks")

                await a.bus.publish(event(run_id, 4))
                await wait_until(lambda: 4 in b.ids(run_id), "A's message to reach B after the outage")
                await b.bus.publish(event(run_id, 5))  # on a connection that went stale in the outage
                await wait_until(lambda: 5 in a.ids(run_id), "B's message to reach A after the outage")
                await settle()
                assert a.ids(run_id) == [1, 10, 2, 3, 4, 5]
                got = b.ids(run_id)
                if kind == "redis":
                    assert got == [1, 10, 4, 5], "what A published during the outage is not sent later"
                else:  # NATS buffers what A published while reconnecting and delivers it late
                    assert got in ([1, 10, 2, 3, 4, 5], [1, 10, 4, 5]), got

                server.kill()
                await wait_until(lambda: not a.bus.healthy, f"the bus to notice {kind} is gone again")
                began = time.monotonic()
                await asyncio.wait_for(a.bus.stop(), 5)
                assert time.monotonic() - began < 3, "stop() while the broker is away must be prompt"
                assert not a.bus.healthy

    run(scenario(), timeout=90)


@pytest.mark.parametrize("kind", KINDS)
def test_a_bus_started_while_the_broker_is_down_connects_when_it_comes_up(kind: str) -> None:
    async def scenario() -> None:
        with private_server(kind) as server:
            began = time.monotonic()
            async with nodes(kind, server.url, count=1, wait_healthy=False) as (a,):
                assert time.monotonic() - began < 2, "start() must not wait for an absent broker"
                assert not a.bus.healthy
                run_id = uuid.uuid4().hex
                await a.bus.publish(event(run_id, 1))
                assert a.ids(run_id) == [1]

                await server.start()
                await wait_until(lambda: a.bus.healthy, f"the bus to connect to {kind}", timeout=10)
                await wait_until(lambda: a.catch_ups == 1, "the catch-up after the late first connection")
                # a second node on A's subject, started normally: no catch-up for it
                subject = a.bus.subject  # type: ignore[attr-defined]
                other = Node(new_bus(kind, server.url, subject))
                await other.bus.start(other.handle, other.catch_up)
                try:
                    await wait_until(lambda: other.bus.healthy, "the second node")
                    await a.bus.publish(event(run_id, 2))
                    await wait_until(lambda: other.ids(run_id) == [2], "A's message to reach the second node")
                    assert other.catch_ups == 0
                finally:
                    await other.bus.stop()

    run(scenario(), timeout=60)


@pytest.mark.parametrize("kind", KINDS)
def test_stop_is_prompt_when_the_broker_was_never_there(kind: str) -> None:
    async def scenario() -> None:
        node = Node(new_bus(kind, f"{kind}://127.0.0.1:{free_port()}", f"raccordo.test.{uuid.uuid4().hex[:12]}"))
        await asyncio.wait_for(node.bus.start(node.handle, node.catch_up), 5)
        await asyncio.sleep(1.5)  # a retry or two
        await node.bus.publish(event("x", 1))
        assert node.ids("x") == [1] and not node.bus.healthy
        began = time.monotonic()
        await asyncio.wait_for(node.bus.stop(), 5)
        assert time.monotonic() - began < 2
        assert node.catch_ups == 0

    run(scenario(), timeout=30)


@pytest.mark.parametrize("kind", KINDS)
def test_a_frozen_broker_is_detected_and_recovered_from(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that stops answering but keeps its sockets open (SIGSTOP, or a half-open
    connection): the keep-alive PINGs notice it; shortened here from about 15 s."""
    import raccordo.platform.bus.nats as nats_bus
    import raccordo.platform.bus.redis as redis_bus

    monkeypatch.setattr(redis_bus, "PING_AFTER", 0.5)
    monkeypatch.setattr(redis_bus, "DEAD_AFTER", 2.0)
    monkeypatch.setattr(nats_bus, "PING_INTERVAL", 0.5)
    monkeypatch.setattr(nats_bus, "MAX_OUTSTANDING_PINGS", 2)

    async def scenario() -> None:
        with private_server(kind) as server:
            await server.start()
            async with nodes(kind, server.url) as (a, b):
                await asyncio.sleep(3)  # idle for longer than the shortened deadline: the PINGs keep it alive
                assert a.bus.healthy and b.bus.healthy and a.catch_ups == b.catch_ups == 0
                assert server.process is not None
                server.process.send_signal(signal.SIGSTOP)
                try:
                    await wait_until(
                        lambda: not a.bus.healthy and not b.bus.healthy, f"a frozen {kind} to be noticed", timeout=10
                    )
                    began = time.monotonic()
                    await a.bus.publish(event("f", 1))
                    assert time.monotonic() - began < 2, "publish to a frozen broker must give up promptly"
                finally:
                    server.process.send_signal(signal.SIGCONT)
                await wait_until(
                    lambda: a.bus.healthy and b.bus.healthy, f"both buses to recover from the frozen {kind}", timeout=15
                )
                await wait_until(lambda: a.catch_ups == 1 and b.catch_ups == 1, "the reconnect callbacks")
                await a.bus.publish(event("f", 2))
                await wait_until(lambda: 2 in b.ids("f"), "A's message to reach B after the freeze")

    run(scenario(), timeout=60)


@pytest.mark.parametrize("kind", KINDS)
def test_a_failing_reconnect_callback_or_handler_does_not_stop_the_bus(kind: str) -> None:
    """Errors in the application's callbacks are logged; the subscription lives on."""

    async def scenario() -> None:
        with private_server(kind) as server:
            await server.start()
            subject = f"raccordo.test.{uuid.uuid4().hex[:12]}"
            received: list[dict[str, Any]] = []

            async def handler(message: dict[str, Any]) -> None:
                if message.get("origin") != bus.node_id and message.get("explode"):
                    raise RuntimeError("handler bug")
                received.append(message)

            async def on_reconnect() -> None:
                raise RuntimeError("catch-up bug")

            bus = new_bus(kind, server.url, subject)
            sender = new_bus(kind, server.url, subject)
            await bus.start(handler, on_reconnect)
            await sender.start(_ignore)
            try:
                await wait_until(lambda: bus.healthy and sender.healthy, "both buses")
                await sender.publish({"type": "event", "id": 1, "explode": True})
                await sender.publish({"type": "event", "id": 2})
                await wait_until(lambda: [m["id"] for m in received] == [2], "the message after a failing one")
                server.kill()
                await wait_until(lambda: not bus.healthy, "the outage")
                await server.start()
                await wait_until(lambda: bus.healthy and bus.reconnects == 1, "the reconnect", timeout=10)  # type: ignore[attr-defined]
                await wait_until(lambda: sender.healthy, "the sender's reconnect", timeout=10)
                await sender.publish({"type": "event", "id": 3})
                await wait_until(lambda: [m["id"] for m in received] == [2, 3], "a message after the failing catch-up")
            finally:
                await bus.stop()
                await sender.stop()

    run(scenario(), timeout=60)


async def _ignore(message: dict[str, Any]) -> None:
    return None


@pytest.mark.parametrize("kind", KINDS)
def test_make_bus_keeps_deployments_on_their_own_subject(kind: str) -> None:
    """RACCORDO_BUS_SUBJECT: two deployments sharing a broker do not see each other's messages."""
    url = shared_url(kind)
    ours, theirs = f"raccordo.test.{uuid.uuid4().hex[:12]}", f"raccordo.test.{uuid.uuid4().hex[:12]}"

    async def scenario() -> None:
        sender, colleague, stranger = Node(make_bus(url, ours)), Node(make_bus(url, ours)), Node(make_bus(url, theirs))
        for node in (sender, colleague, stranger):
            await asyncio.wait_for(node.bus.start(node.handle, node.catch_up), 10)
        try:
            await wait_until(lambda: all(n.bus.healthy for n in (sender, colleague, stranger)), "buses healthy")
            run_id = uuid.uuid4().hex
            await sender.bus.publish(event(run_id, 1))
            await wait_until(lambda: colleague.ids(run_id) == [1], "the message on the same subject")
            await settle()
            assert stranger.ids(run_id) == []
        finally:
            for node in (sender, colleague, stranger):
                await asyncio.wait_for(node.bus.stop(), 10)

    run(scenario())
