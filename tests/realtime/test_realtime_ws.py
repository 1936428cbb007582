"""/ws end to end in one process: events live and resumed, tenant scoping, typing and viewers,
presence, slow clients."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from raccordo.accounts.domain.roles import Role
from raccordo.bootstrap.http import create_app
from raccordo.platform.config import Settings
from raccordo.platform.runtime import Runtime
from raccordo.realtime.api.ws import start_sender
from raccordo.realtime.domain.visibility import Subscriber
from raccordo.realtime.hub import Client
from tests.helpers import create_api_inbox, customer_message, post_inbound
from tests.support.orgs import make_org
from tests.support.realtime import connect_desktop as _connect
from tests.support.realtime import until_message as _until


@pytest.fixture(scope="module")
def live(database_url, tmp_path_factory) -> Iterator[tuple[Runtime, TestClient]]:
    """An app with fast heartbeats, a short presence grace and small send queues."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("ws"),
        database_url=database_url,
        secret_key="test-secret-key",
        ws_heartbeat_seconds=0.5,
        presence_grace_seconds=3.0,
        ws_queue_size=20,
        embedded_worker=False,
    )
    runtime = Runtime.build(settings)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield runtime, client
    runtime.close()


def _events(ws, count: int, limit: int = 200) -> list[dict]:
    found = []
    for _ in range(limit):
        message = ws.receive_json()
        if message["type"] == "event":
            found.append(message)
            if len(found) == count:
                return found
    raise AssertionError(f"got {len(found)} events, expected {count}")


def test_live_events_reach_the_agent_and_stay_in_the_tenant(live):
    rt, client = live
    org, other = make_org(rt), make_org(rt)
    inbox = create_api_inbox(client, org.headers())
    foreign = create_api_inbox(client, other.headers())
    with _connect(client, org.tokens["agent"]) as ws:
        hello = _until(ws, lambda m: m["type"] == "hello")
        assert hello["user_id"] == org.users["agent"]
        post_inbound(client, foreign, customer_message("other-1", email="x@other.example.com"))
        post_inbound(client, inbox, customer_message("live-1", "Aiuto!", email="live@example.com"))
        events = _events(ws, 2)
        assert [e["kind"] for e in events] == ["conversation.created", "message.created"]
        assert events[0]["id"] < events[1]["id"] and all(e["tenant_id"] == org.tenant_id for e in events)
        assert events[1]["payload"]["text"] == "Aiuto!"


def test_reconnect_with_last_event_id_gets_what_was_missed_in_order_once(live):
    rt, client = live
    org = make_org(rt)
    inbox = create_api_inbox(client, org.headers())
    with _connect(client, org.tokens["supervisor"]) as ws:
        _until(ws, lambda m: m["type"] == "hello")
        post_inbound(client, inbox, customer_message("r-0", email="resume@example.com"))
        last = _events(ws, 2)[-1]["id"]
    # Disconnected: three more messages happen.
    for index in range(1, 4):
        post_inbound(client, inbox, customer_message(f"r-{index}", f"missed {index}", email="resume@example.com"))
    with _connect(client, org.tokens["supervisor"], last_event_id=last) as ws:
        assert _until(ws, lambda m: m["type"] == "hello")["last_event_id"] > last
        missed = [e for e in _events(ws, 6) if e["kind"] == "message.created"]
        assert [e["payload"]["text"] for e in missed] == ["missed 1", "missed 2", "missed 3"]
        post_inbound(client, inbox, customer_message("r-4", "live again", email="resume@example.com"))
        after = _events(ws, 2)
        ids = [e["id"] for e in after]
        assert ids == sorted(ids) and after[-1]["payload"]["text"] == "live again"
        assert min(ids) > max(e["id"] for e in missed)


def test_agents_do_not_see_colleagues_assigned_work(live):
    rt, client = live
    org = make_org(rt)
    inbox = create_api_inbox(client, org.headers())
    post_inbound(client, inbox, customer_message("a-1", email="assigned@example.com"))
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    client.patch(
        f"/api/v1/conversations/{conversation['id']}",
        json={"assignee_id": org.users["supervisor"]},
        headers=org.headers("supervisor"),
    )
    with _connect(client, org.tokens["agent"]) as ws:
        _until(ws, lambda m: m["type"] == "hello")
        post_inbound(client, inbox, customer_message("a-2", "per il supervisore", email="assigned@example.com"))
        post_inbound(client, inbox, customer_message("a-3", "coda", email="queue@example.com"))
        events = _events(ws, 2)
        assert {e["payload"].get("text") for e in events if e["kind"] == "message.created"} == {"coda"}


def test_typing_and_viewers_between_agents(live):
    rt, client = live
    org = make_org(rt)
    # A real conversation the agent may see (unassigned, no team): typing and viewing are refused on others.
    post_inbound(client, create_api_inbox(client, org.headers()), customer_message("tv-1", email="typing@example.com"))
    shared = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]["id"]
    with _connect(client, org.tokens["agent"]) as watcher, _connect(client, org.tokens["admin"]) as typist:
        _until(watcher, lambda m: m["type"] == "hello")
        _until(typist, lambda m: m["type"] == "hello")
        watcher.send_json({"type": "viewing", "conversation_id": shared})
        viewers = _until(typist, lambda m: m["type"] == "viewers")
        assert viewers == {"type": "viewers", "conversation_id": shared, "user_ids": [org.users["agent"]]}
        typist.send_json({"type": "typing", "conversation_id": shared, "state": True})
        typing = _until(watcher, lambda m: m["type"] == "typing")
        assert typing["user_id"] == org.users["admin"] and typing["state"] is True
        typist.send_json({"type": "bogus"})
        assert "unknown message type" in _until(typist, lambda m: m["type"] == "error")["message"]


def test_presence_follows_connections_with_a_grace_period(live):
    rt, client = live
    org = make_org(rt)

    def state():
        return next(
            p
            for p in client.get("/api/v1/presence", headers=org.headers()).json()
            if p["user_id"] == org.users["agent"]
        )

    assert state()["status"] == "offline"
    with _connect(client, org.tokens["agent"]) as first, _connect(client, org.tokens["agent"]) as second:
        _until(first, lambda m: m["type"] == "hello")
        _until(second, lambda m: m["type"] == "hello")
        assert state()["status"] == "online" and state()["connections"] == 2
        first.send_json({"type": "presence", "status": "away", "reason": "pausa pranzo"})
        change = _until(second, lambda m: m["type"] == "event" and m["kind"] == "presence.changed")
        assert change["payload"]["status"] == "away" and change["payload"]["reason"] == "pausa pranzo"
    # Both tabs closed: still away during the grace period, offline after it.
    assert state()["status"] == "away"
    deadline = time.time() + 15
    while state()["status"] != "offline" and time.time() < deadline:
        time.sleep(0.3)
    assert state()["status"] == "offline"


class _StuckSocket:
    """A peer that never reads: sends block, as on a full TCP window."""

    def __init__(self) -> None:
        self.closed: tuple[int, str] | None = None

    async def send_json(self, message: dict) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


class _ReadingSocket:
    def __init__(self) -> None:
        self.received: list[dict] = []

    async def send_json(self, message: dict) -> None:
        self.received.append(message)

    async def close(self, code: int, reason: str) -> None:
        raise AssertionError("a reading client must not be closed")


def test_a_slow_client_is_disconnected_with_a_reason_and_does_not_slow_others():
    """TCP backpressure cannot be produced through the in-process test client, so the two
    peers here are socket doubles around the real Client queue and send loop."""

    async def scenario() -> tuple[_StuckSocket, _ReadingSocket]:
        subscriber = Subscriber(1, 1, Role.SUPERVISOR)
        slow = Client(_StuckSocket(), subscriber, "slow", asyncio.Queue(maxsize=5))  # type: ignore[arg-type]
        fast = Client(_ReadingSocket(), subscriber, "fast", asyncio.Queue(maxsize=5))  # type: ignore[arg-type]
        senders = [start_sender(c, heartbeat=30) for c in (slow, fast)]
        for event_id in range(1, 41):
            for client in (slow, fast):
                client.offer({"type": "event", "id": event_id})
            await asyncio.sleep(0.002)  # the reading peer reads at a finite pace
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(senders[0], timeout=5)  # the slow client's sender was stopped
        await asyncio.sleep(0.05)
        for _ in range(100):
            if len(fast.websocket.received) == 40:
                break
            await asyncio.sleep(0.01)
        senders[1].cancel()
        return slow.websocket, fast.websocket  # type: ignore[return-value]

    stuck, reading = asyncio.run(scenario())
    assert stuck.closed is not None and stuck.closed[0] == 4008 and "too slowly" in stuck.closed[1]
    assert [m["id"] for m in reading.received] == list(range(1, 41))


def test_refused_connections(live):
    rt, client = live
    org = make_org(rt)
    with pytest.raises(WebSocketDisconnect) as refused, _connect(client, "not-a-token"):
        pass
    assert refused.value.code == 1008
    login = client.post("/api/v1/auth/login", json={"email": org.email("agent"), "password": org.password})
    assert login.status_code == 200
    with (
        pytest.raises(WebSocketDisconnect) as foreign,
        client.websocket_connect("/ws", headers={"origin": "https://evil.example.com"}),
    ):
        pass
    assert foreign.value.code == 1008
    with client.websocket_connect("/ws", headers={"origin": "http://testserver"}) as ws:
        assert _until(ws, lambda m: m["type"] == "hello")["user_id"] == org.users["agent"]
    client.cookies.clear()
