"""The event bus against real brokers: choosing an implementation, two nodes per broker, order, and
malformed messages.

Normal paths use the machine's Redis (RACCORDO_TEST_REDIS_URL, default 127.0.0.1:6379)
and NATS (RACCORDO_TEST_NATS_URL, default 127.0.0.1:4222); a broker that cannot be
reached fails the run with how to start it, it is never skipped. Each test uses its own
subject, so it neither sees nor disturbs anything else on the broker. Every wait is
bounded, so a broken bus fails fast instead of hanging.
"""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from raccordo.platform.bus import MemoryBus, make_bus
from raccordo.platform.bus.base import SUBJECT
from raccordo.platform.bus.nats import NatsBus
from raccordo.platform.bus.redis import RedisBus
from tests.support.buses import KINDS, Node, event, nodes, run, settle, shared_url, wait_until

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
