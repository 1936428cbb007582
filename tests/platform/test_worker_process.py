"""`raccordo worker` as its own process: killed with SIGKILL in the middle of sends and restarted,
every message reaches the provider under its one idempotency key and is recorded sent exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from raccordo.channels.models import OutboxItem
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.models import Event
from raccordo.record.models import Message
from tests.helpers import create_api_inbox, customer_message, post_inbound

RACCORDO = str(Path(sys.executable).parent / "raccordo")
MESSAGES = 40
DELAY = 0.05  # seconds the provider takes per request


class SlowProvider:
    """A real HTTP server on 127.0.0.1 that takes DELAY per request and records each one on arrival."""

    def __init__(self, delay: float) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with outer.lock:
                    outer.received.append({"key": self.headers.get("Idempotency-Key"), "body": json.loads(body)})
                    number = len(outer.received)
                time.sleep(delay)
                payload = json.dumps({"id": f"prov-{number}"}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the worker was killed while waiting for the answer
                    pass

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def keys(self) -> list[str]:
        with self.lock:
            return [hit["key"] for hit in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider():
    server = SlowProvider(DELAY)
    yield server
    server.close()


def _wait(
    condition, timeout: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            output = log.read_text() if log else ""
            pytest.fail(f"the worker exited with {process.returncode} while waiting for {what}:\n{output}")
        time.sleep(0.01)
    pytest.fail(f"timed out after {timeout} s waiting for {what}:\n{log.read_text() if log else ''}")


def _outbox(rt, message_ids: list[int]) -> list[OutboxItem]:
    with unit_of_work(rt.sessions) as session:
        rows = list(session.scalars(select(OutboxItem).where(OutboxItem.message_id.in_(message_ids))))
        for row in rows:
            session.expunge(row)
        return rows


def _start_worker(rt, database_url: str, log: Path, **settings: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "RACCORDO_DATABASE_URL": database_url,
        "RACCORDO_DATA_DIR": str(rt.settings.data_dir),
        "RACCORDO_SECRET_KEY": rt.settings.secret_key,
        "RACCORDO_DELIVERY_LEASE_SECONDS": "2",
        "RACCORDO_WORKER_POLL_SECONDS": "0.1",
        "RACCORDO_BUS_URL": "memory://",
        "RACCORDO_LOG_LEVEL": "INFO",
        **{f"RACCORDO_{name.upper()}": value for name, value in settings.items()},
    }
    handle = log.open("a")
    try:
        return subprocess.Popen([RACCORDO, "worker"], env=env, stdout=handle, stderr=subprocess.STDOUT)
    finally:
        handle.close()


def test_worker_killed_mid_send_delivers_every_message_exactly_once(client, rt, org, provider, database_url, tmp_path):
    assert rt.settings.secret_key == "test-secret-key"
    inbox = create_api_inbox(client, org.headers(), callback_url=provider.url)
    tag = uuid.uuid4().hex[:8]
    post_inbound(client, inbox, customer_message(f"kill-{tag}", email=f"kill-{tag}@example.com"))
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    message_ids = []
    for number in range(MESSAGES):
        response = client.post(
            f"/api/v1/conversations/{conversation['id']}/reply",
            json={"text": f"Risposta {number}"},
            headers=org.headers("agent"),
        )
        assert response.status_code == 201, response.text
        message_ids.append(response.json()["id"])
    expected_keys = {row.idempotency_key for row in _outbox(rt, message_ids)}
    assert len(expected_keys) == MESSAGES

    log = tmp_path / "worker.log"
    first = _start_worker(rt, database_url, log)
    try:
        _wait(lambda: len(provider.keys()) >= 5, 60, "the first sends", first, log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    killed_at = _outbox(rt, message_ids)
    statuses = Counter(row.status for row in killed_at)
    assert statuses["sent"] < MESSAGES and len(set(provider.keys())) < MESSAGES, (
        f"the kill must land in the middle of the sends: {statuses}"
    )
    assert statuses["sending"] >= 1, f"the killed worker must leave claimed sends behind: {statuses}"

    second = _start_worker(rt, database_url, log)
    try:
        _wait(
            lambda: all(row.status == "sent" for row in _outbox(rt, message_ids)),
            90,
            "every outbox row to be sent",
            second,
            log,
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, "SIGTERM stops the worker cleanly:\n" + log.read_text()
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(timeout=10)

    # The provider saw every message, each under its own key: duplicates (resends after the
    # kill) carry the key of their message, so the provider can drop them.
    received = provider.keys()
    assert set(received) == expected_keys
    by_key: dict[str, set[int]] = {}
    for hit in provider.received:
        by_key.setdefault(hit["key"], set()).add(hit["body"]["message"]["id"])
    assert all(len(ids) == 1 for ids in by_key.values()), "one key per message"
    assert {next(iter(ids)) for ids in by_key.values()} == set(message_ids)

    # Our database records each message sent exactly once.
    rows = _outbox(rt, message_ids)
    assert len(rows) == MESSAGES and Counter(row.message_id for row in rows) == Counter(message_ids)
    assert all(row.status == "sent" and row.provider_message_id and row.claimed_until is None for row in rows)
    with unit_of_work(rt.sessions) as session:
        delivered = dict(
            session.execute(select(Message.id, Message.delivery_status).where(Message.id.in_(message_ids))).all()
        )
        assert set(delivered.values()) == {"sent"}
        sent_events = Counter(
            payload["id"]
            for payload in session.scalars(
                select(Event.payload).where(Event.tenant_id == org.tenant_id, Event.kind == "message.updated")
            )
            if payload.get("delivery_status") == "sent"
        )
        assert sent_events == Counter(message_ids), "one 'sent' update per message, none twice"
        assert (
            session.scalar(
                select(func.count())
                .select_from(OutboxItem)
                .where(OutboxItem.message_id.in_(message_ids), OutboxItem.status != "sent")
            )
            == 0
        )

    output = log.read_text()
    starts = [line for line in output.splitlines() if "raccordo worker started" in line]
    assert len(starts) == 2 and all("node " in line and "bus MemoryBus" in line for line in starts), output
    assert "raccordo worker stopped" in output
    assert "test-secret-key" not in output and inbox.secret not in output, "secrets must never be logged"
    duplicates = len(received) - len(set(received))
    print(f"provider requests: {len(received)} for {MESSAGES} messages ({duplicates} resent after the kill, same keys)")


BUS_URLS = {
    "redis": os.environ.get("RACCORDO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "nats": os.environ.get("RACCORDO_TEST_NATS_URL", "nats://127.0.0.1:4222"),
}
HOW_TO_START = {
    "redis": "start it with: redis-server --daemonize yes (or set RACCORDO_TEST_REDIS_URL)",
    "nats": "start it with: nats-server -a 127.0.0.1 -p 4222 & (or set RACCORDO_TEST_NATS_URL)",
}


@pytest.mark.parametrize("kind", ["redis", "nats"])
def test_worker_process_wakes_on_the_bus_and_announces_what_it_committed(
    kind, client, rt, org, callback, database_url, tmp_path
):
    """With a long poll, a queued send waits; a {"type": "wake"} from another process sends it at once,
    and the worker publishes the resulting event so the serve nodes' hubs pick it up."""
    import asyncio
    import socket
    from urllib.parse import urlsplit

    from raccordo.platform.bus import make_bus

    url = BUS_URLS[kind]
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=1).close()
    except OSError:
        pytest.fail(f"{kind} at {url} is not reachable; {HOW_TO_START[kind]}", pytrace=False)

    inbox = create_api_inbox(client, org.headers(), callback_url=callback.url)
    tag = uuid.uuid4().hex[:8]
    post_inbound(client, inbox, customer_message(f"wake-{tag}", email=f"wake-{tag}@example.com"))
    conversation = client.get("/api/v1/conversations", headers=org.headers()).json()["items"][0]
    log = tmp_path / "worker.log"
    poll = 60

    async def scenario() -> None:
        seen: list[dict[str, Any]] = []

        async def collect(message: dict[str, Any]) -> None:
            seen.append(message)

        bus = make_bus(url)
        await bus.start(collect)
        process = _start_worker(rt, database_url, log, bus_url=url, worker_poll_seconds=str(poll))
        try:
            deadline = time.monotonic() + 60
            while "raccordo worker started" not in log.read_text():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the worker did not start:\n" + log.read_text()
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # its first pass is over: it now sleeps for the poll interval
            reply = await asyncio.to_thread(
                client.post,
                f"/api/v1/conversations/{conversation['id']}/reply",
                json={"text": "Svegliati"},
                headers=org.headers("agent"),
            )
            assert reply.status_code == 201, reply.text
            message_id = reply.json()["id"]
            await asyncio.sleep(1.0)
            assert callback.received == [], f"without a wake-up the send waits for the {poll} s poll"
            await bus.publish({"type": "wake"})
            deadline = time.monotonic() + 10
            while not callback.received:
                assert time.monotonic() < deadline, "the wake-up did not reach the worker:\n" + log.read_text()
                await asyncio.sleep(0.02)
            assert json.loads(callback.received[0]["body"])["message"]["id"] == message_id
            deadline = time.monotonic() + 10
            while not any(m.get("type") == "events" and m.get("tenant_id") == org.tenant_id for m in seen):
                assert time.monotonic() < deadline, f"the worker did not announce the committed event: {seen}"
                await asyncio.sleep(0.02)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()
                code = await asyncio.to_thread(process.wait, 10)
            await bus.stop()
        assert code == 0, log.read_text()
        assert f"bus {bus.kind}" in log.read_text()

    asyncio.run(asyncio.wait_for(scenario(), 120))
