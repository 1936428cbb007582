"""The event bus through broker outages: a broker going away and coming back, one down when the bus starts,
one never there, one frozen, failing callbacks, and deployments kept on their own subject.

Outage tests start a private server on a free port, kill it and start it again on the
same port. Each test uses its own subject, so it neither sees nor disturbs anything else
on the broker. Every wait is bounded, so a broken bus fails fast instead of hanging.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from raccordo.platform.bus import make_bus
from tests.support.buses import KINDS, Node, event, new_bus, nodes, run, settle, shared_url, wait_until
from tests.support.servers import PrivateServer


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
