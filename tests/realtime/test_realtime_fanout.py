"""The hub's fan-out: visibility computed once per view must give every client exactly what
``visible(event, client.subscriber)`` gives it; frames prepared once must decode on real
sockets, compressed or not, interleaved with messages the websockets encoder builds."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time

import pytest
import uvicorn
from websockets.asyncio.client import connect

from raccordo.accounts.domain.roles import Role
from raccordo.realtime.domain.visibility import Subscriber, visible
from raccordo.realtime.frames import DIRECT, PREPARED, BroadcastWebSocketProtocol, PreparedFrame
from raccordo.realtime.hub import Client, Hub

KINDS = (
    "conversation.created",
    "conversation.updated",
    "message.created",
    "presence.changed",
    "note.created",
    "conversation.assigned",
)


def _events(rng: random.Random, count: int, first_id: int) -> list[dict]:
    events = []
    for offset in range(count):
        payload = {"previous_user_id": rng.choice([None, 1, 2, 3])} if rng.random() < 0.2 else {}
        events.append(
            {
                "type": "event",
                "id": first_id + offset,
                "tenant_id": rng.choice([1, 1, 1, 2]),
                "kind": rng.choice(KINDS),
                "conversation_id": rng.choice([None, 10, 11, 12, 13]),
                "contact_id": None,
                "user_id": rng.choice([None, None, 1, 2, 3, 4]),
                "team_id": rng.choice([None, None, 7, 8]),
                "payload": payload,
                "created_at": "2026-01-01T00:00:00+00:00",
            }
        )
    return events


def _received(client: Client) -> list[dict]:
    out = []
    while not client.queue.empty():
        item = client.queue.get_nowait()
        decoded = json.loads(item.text if isinstance(item, PreparedFrame) else item)
        out.extend(decoded["events"] if decoded["type"] == "events" else [decoded])
    return out


@pytest.mark.parametrize("seed", range(20))
def test_dispatch_by_view_gives_each_client_exactly_what_the_rule_allows(seed):
    rng = random.Random(seed)
    hub = Hub(None, None)  # type: ignore[arg-type]  # dispatch touches neither the runtime nor the bus
    clients = []
    for number in range(40):
        role = rng.choice([Role.AGENT, Role.AGENT, Role.AGENT, Role.SUPERVISOR])
        subscriber = Subscriber(
            1, rng.choice([1, 2, 3, 4, 5]), role, frozenset(rng.sample([7, 8, 9], rng.randint(0, 2)))
        )
        subscriber.conversation_ids = set(rng.sample([10, 11, 12, 13], rng.randint(0, 2)))
        client = Client(
            None,
            subscriber,
            f"c{number}",
            asyncio.Queue(),
            last_sent_id=rng.choice([0, 0, 0, 3]),
            batch=rng.random() < 0.5,
        )  # type: ignore[arg-type]
        clients.append(client)
    hub.clients[1] = set(clients)
    first = _events(rng, 25, 1)
    second = _events(rng, 25, 26)
    expected = {c.connection_id: [] for c in clients}
    for batch in (first, second):
        for client in clients:
            expected[client.connection_id] += [
                m
                for m in batch
                if visible(m, client.subscriber)
                and m["id"]
                > max(client.last_sent_id, max([e["id"] for e in expected[client.connection_id]], default=0))
            ]
        hub._dispatch(1, [m for m in batch if m["tenant_id"] == 1])
    for client in clients:
        assert [m["id"] for m in _received(client)] == [m["id"] for m in expected[client.connection_id]], (
            client.connection_id
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _app(scope, receive, send):  # a minimal ASGI WebSocket app: prepared frames between ordinary ones
    assert scope["type"] == "websocket"
    await receive()
    await send({"type": "websocket.accept"})
    shared = PreparedFrame(json.dumps({"n": 1, "text": "é" * 200}))
    big = PreparedFrame(json.dumps({"n": 3, "text": "x" * 70000}))
    await send({"type": "websocket.send", "text": '{"n": 0}'})
    await send({"type": "websocket.send", "text": shared.text, PREPARED: shared})
    await send(
        {"type": "websocket.send", "text": json.dumps({"n": 2, "text": "é" * 200})}
    )  # after a prepared one: a fresh context
    await send({"type": "websocket.send", "text": big.text, PREPARED: big})
    await send({"type": "websocket.send", "text": shared.text, PREPARED: shared})
    await receive()


@pytest.mark.parametrize("compression", ["deflate", None])
def test_prepared_frames_decode_on_real_sockets(compression):
    port = _free_port()
    config = uvicorn.Config(
        _app,
        host="127.0.0.1",
        port=port,
        ws=BroadcastWebSocketProtocol,
        ws_per_message_deflate=compression is not None,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)

        async def read() -> tuple[list[dict], list]:
            async with connect(f"ws://127.0.0.1:{port}/", compression=compression, max_size=None) as ws:
                frames = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(5)]
                return frames, ws.protocol.extensions

        frames, extensions = asyncio.run(read())
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert [f["n"] for f in frames] == [0, 1, 2, 3, 1]
    assert frames[1]["text"] == frames[2]["text"] == "é" * 200 and len(frames[3]["text"]) == 70000
    assert bool(extensions) == (compression is not None)
    if compression:  # the server compresses each message afresh, so one compressed frame suits every socket
        assert extensions[0].remote_no_context_takeover


async def _direct_app(scope, receive, send):  # frames written straight to the transport between ordinary sends
    assert scope["type"] == "websocket"
    await receive()
    await send({"type": "websocket.accept"})
    write = scope["extensions"][DIRECT]
    shared = PreparedFrame(json.dumps({"n": 1, "text": "é" * 200}))
    await send({"type": "websocket.send", "text": '{"n": 0}'})
    written = [write(shared)]
    await send({"type": "websocket.send", "text": json.dumps({"n": 2, "text": "é" * 200})})
    written.append(write(PreparedFrame(json.dumps({"n": 3, "text": "x" * 70000}))))
    written.append(write(shared))
    await send({"type": "websocket.send", "text": json.dumps({"n": 4, "written": written})})
    await receive()


@pytest.mark.parametrize("compression", ["deflate", None])
def test_direct_writes_decode_in_order_on_real_sockets(compression):
    port = _free_port()
    config = uvicorn.Config(
        _direct_app,
        host="127.0.0.1",
        port=port,
        ws=BroadcastWebSocketProtocol,
        ws_per_message_deflate=compression is not None,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)

        async def read() -> list[dict]:
            async with connect(f"ws://127.0.0.1:{port}/", compression=compression, max_size=None) as ws:
                return [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(6)]

        frames = asyncio.run(read())
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert [f["n"] for f in frames] == [0, 1, 2, 3, 1, 4]
    assert frames[1]["text"] == frames[2]["text"] == "é" * 200 and len(frames[3]["text"]) == 70000
    assert frames[5]["written"] == [True, True, True]  # an open, writable socket takes the direct path


def test_a_client_writes_directly_only_when_nothing_is_queued_or_being_sent():
    written: list[PreparedFrame] = []
    accept = [True]

    def write(frame: PreparedFrame) -> bool:
        if accept[0]:
            written.append(frame)
        return accept[0]

    client = Client(None, Subscriber(1, 1, Role.AGENT), "c", asyncio.Queue(maxsize=3), direct=write)  # type: ignore[arg-type]
    first, second, third, fourth = (PreparedFrame(json.dumps({"n": n})) for n in range(4))
    client.offer_frame(1, first)
    assert written == [first] and client.queue.empty() and client.last_sent_id == 1
    client.offer({"type": "pong"})  # something queued: later frames wait behind it, in order
    client.offer_frame(2, second)
    assert written == [first] and client.queue.qsize() == 2
    client.queue.get_nowait(), client.queue.get_nowait()
    client.sending = True  # the sender holds a message it has not finished writing
    client.offer_frame(3, third)
    assert written == [first] and client.queue.get_nowait() is third
    client.sending = False
    accept[0] = False  # the transport is paused (flow control): the frame goes through the queue
    client.offer_frame(4, fourth)
    assert client.queue.get_nowait() is fourth and client.last_sent_id == 4
