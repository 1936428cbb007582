"""Many processes: two `raccordo serve` and one `raccordo worker` over PostgreSQL and a real bus.

For each bus (Redis, NATS) the test starts a private broker on a free port (so it can kill
it), the three real processes from the command line, and drives them over HTTP and
WebSockets as a browser and an integrator would:

- a customer message posted to serve A reaches an agent's WebSocket on serve B;
- typing and "who is viewing" from a supervisor on A reach the agent on B (collision);
- a snooze timer set through A is fired by the worker once, and B's agent sees the reopen;
- a reply queued on B is delivered by the worker once, to a real callback server;
- with the broker killed, each serve keeps serving its own clients and reports not ready;
  when the broker comes back, B catches up: every event once, in order.

It runs on PostgreSQL (the scale-out database), or on SQLite when the suite is told to
use SQLite only (RACCORDO_TEST_DATABASES=sqlite).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from raccordo.channels import signing
from raccordo.platform.config import Settings
from raccordo.platform.runtime import Runtime
from raccordo.platform.store.db import unit_of_work
from raccordo.platform.store.migrate import upgrade
from raccordo.platform.store.models import Job
from raccordo.record.models import TimelineEvent
from raccordo.record.services.snooze import snooze_key
from tests.helpers import CallbackServer
from tests.support.databases import BACKENDS, create_postgres_database, drop_postgres_database
from tests.support.orgs import make_org
from tests.support.servers import PrivateServer

RACCORDO = str(Path(sys.executable).parent / "raccordo")
SECRET = "scale-out-secret-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def shared_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if "postgresql" in BACKENDS:
        name, url = create_postgres_database()
        upgrade(url)
        yield url
        drop_postgres_database(name)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('scale') / 'raccordo.db'}"
        upgrade(url)
        yield url


class Processes:
    """The real `raccordo` processes of one run, with their logs; all stopped at the end."""

    def __init__(self, tmp_path: Path, database_url: str, bus_url: str) -> None:
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "RACCORDO_DATABASE_URL": database_url,
            "RACCORDO_DATA_DIR": str(tmp_path / "data"),
            "RACCORDO_SECRET_KEY": SECRET,
            "RACCORDO_BUS_URL": bus_url,
            "RACCORDO_AUTO_MIGRATE": "false",
            "RACCORDO_WORKER_POLL_SECONDS": "0.5",
            # Long heartbeats: the hubs' periodic safety-net pump (every heartbeat / 2) must not be
            # what carries events between processes here; the bus and the catch-up must.
            "RACCORDO_WS_HEARTBEAT_SECONDS": "40",
            "RACCORDO_LOG_LEVEL": "INFO",
        }
        self.running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}

    def start(self, name: str, *args: str, **settings: str) -> None:
        log = self.tmp_path / f"{name}.log"
        env = {**self.env, **{f"RACCORDO_{key.upper()}": value for key, value in settings.items()}}
        with log.open("ab") as handle:
            process = subprocess.Popen([RACCORDO, *args], env=env, stdout=handle, stderr=subprocess.STDOUT)
        self.running[name] = (process, log)

    def serve(self, name: str) -> str:
        port = _free_port()
        self.start(name, "serve", "--port", str(port), embedded_worker="false")
        return f"http://127.0.0.1:{port}"

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} ---\n{log.read_text(errors='replace')[-3000:]}" for name, (_, log) in self.running.items()
        )

    def check_alive(self) -> None:
        for name, (process, _) in self.running.items():
            if process.poll() is not None:
                pytest.fail(f"{name} exited with {process.returncode}:\n{self.logs()}")

    def stop(self) -> dict[str, int]:
        codes: dict[str, int] = {}
        for process, _ in self.running.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, (process, _) in self.running.items():
            try:
                codes[name] = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait(timeout=10)
        return codes


async def _until(condition: Callable[[], Any], what: str, processes: Processes, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(condition)
        if value:
            return value
        processes.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{processes.logs()}", pytrace=False)
        await asyncio.sleep(0.1)


def _readiness(base: str) -> tuple[int, dict[str, Any]]:
    try:
        response = httpx.get(f"{base}/readyz", timeout=2)
    except httpx.HTTPError:
        return 0, {}
    return response.status_code, response.json()


class Socket:
    """An agent's WebSocket, read in the background into a list."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.received: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.connection:
            self.received.append(json.loads(raw))

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.received if m["type"] == "event" and (kind is None or m["kind"] == kind)]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["type"] == kind]

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def close(self) -> None:
        await self.connection.close()
        self.reader.cancel()


async def _open_socket(base: str, token: str) -> Socket:
    url = base.replace("http://", "ws://") + "/ws"
    connection = await connect(url, subprotocols=[f"raccordo.token.{token}"], open_timeout=10)  # type: ignore[list-item]
    socket_ = Socket(connection)
    deadline = time.monotonic() + 10
    while not socket_.of_type("hello"):
        assert time.monotonic() < deadline, "no hello on the WebSocket"
        await asyncio.sleep(0.02)
    return socket_


def _post_inbound(base: str, inbox: dict[str, Any], message_id: str, text: str, email: str) -> httpx.Response:
    body = json.dumps(
        {
            "message_id": message_id,
            "contact": {"name": "Giulia Verdi", "identities": [{"kind": "email", "value": email}]},
            "text": text,
        }
    ).encode()
    path = f"/api/v1/channels/api/{inbox['identifier']}/messages"
    return httpx.post(
        base + path,
        content=body,
        headers={"Content-Type": "application/json", **signing.sign(inbox["secrets"]["hmac_secret"], body)},
        timeout=10,
    )


def _texts(socket_: Socket, tag: str) -> list[str]:
    return [
        e["payload"]["text"]
        for e in socket_.events("message.created")
        if str(e["payload"].get("text", "")).startswith(tag)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis", "nats"])
def test_two_serve_processes_and_a_worker_share_one_realtime_system(
    kind: str, shared_database: str, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=shared_database, secret_key=SECRET)
    rt = Runtime.build(settings)
    org = make_org(rt)
    broker = PrivateServer(kind)
    processes = Processes(tmp_path, shared_database, broker.url)
    callback = CallbackServer()
    tag = uuid.uuid4().hex[:6]

    async def scenario() -> None:
        await broker.start()
        serve_a = processes.serve("serve-a")
        serve_b = processes.serve("serve-b")
        processes.start("worker", "worker")
        for base in (serve_a, serve_b):
            await _until(lambda base=base: _readiness(base)[0] == 200, f"{base}/readyz", processes, timeout=60)
        owner = {"Authorization": f"Bearer {org.tokens['owner']}"}
        inbox = httpx.post(
            f"{serve_a}/api/v1/inboxes",
            json={"name": "App", "channel": "api", "settings": {"callback_url": callback.url}},
            headers=owner,
            timeout=10,
        ).json()

        agent_b = await _open_socket(serve_b, org.tokens["agent"])
        supervisor_a = await _open_socket(serve_a, org.tokens["supervisor"])
        try:
            # 1. A message posted to A reaches the agent on B.
            posted = await asyncio.to_thread(
                _post_inbound, serve_a, inbox, f"{tag}-1", f"{tag} Buongiorno, ho un problema", f"{tag}@example.com"
            )
            assert posted.status_code == 200, posted.text
            await _until(
                lambda: _texts(agent_b, tag), "the message posted to A on B's agent socket", processes, timeout=8
            )
            conversation_id = agent_b.events("message.created")[-1]["conversation_id"]
            hello_nodes = {agent_b.of_type("hello")[0]["node"], supervisor_a.of_type("hello")[0]["node"]}
            assert len(hello_nodes) == 2, "the two sockets must be on two different processes"

            # 2. Typing and viewing from the supervisor on A reach the agent on B.
            await agent_b.send({"type": "subscribe", "conversation_ids": [conversation_id]})
            await asyncio.sleep(0.2)
            await supervisor_a.send({"type": "viewing", "conversation_id": conversation_id, "state": True})
            await supervisor_a.send({"type": "typing", "conversation_id": conversation_id, "state": True})
            viewers = await _until(
                lambda: [m for m in agent_b.of_type("viewers") if org.users["supervisor"] in m["user_ids"]],
                "viewers on B",
                processes,
            )
            assert viewers[0]["conversation_id"] == conversation_id
            await _until(
                lambda: [
                    m for m in agent_b.of_type("typing") if m["user_id"] == org.users["supervisor"] and m["state"]
                ],
                "typing on B",
                processes,
            )

            # 3. A snooze timer set through A fires once, on the worker; B's agent sees the reopen.
            until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
            snoozed = httpx.patch(
                f"{serve_a}/api/v1/conversations/{conversation_id}",
                json={"status": "snoozed", "snoozed_until": until},
                headers=owner,
                timeout=10,
            )
            assert snoozed.status_code == 200, snoozed.text
            reopened = await _until(
                lambda: [
                    e
                    for e in agent_b.events("conversation.updated")
                    if e["conversation_id"] == conversation_id and e["payload"].get("status") == "open"
                ],
                "the reopen after the snooze on B's socket",
                processes,
            )
            await asyncio.sleep(1.5)  # the worker polls every 0.5 s: room for a second firing, if there were one
            with unit_of_work(rt.sessions) as session:
                job = session.scalars(select(Job).where(Job.dedupe_key == snooze_key(conversation_id))).one()
                assert (job.status, job.attempts, job.result.get("reopened")) == ("done", 1, True)
                reopens = [
                    row
                    for row in session.scalars(
                        select(TimelineEvent).where(TimelineEvent.conversation_id == conversation_id)
                    )
                    if (row.data or {}).get("reason") == "snooze_ended"
                ]
                assert len(reopens) == 1
            assert len(reopened) == 1

            # 4. A reply queued on B is delivered by the worker, once.
            agent = {"Authorization": f"Bearer {org.tokens['agent']}"}
            reply = httpx.post(
                f"{serve_b}/api/v1/conversations/{conversation_id}/reply",
                json={"text": f"{tag} Eccomi"},
                headers=agent,
                timeout=10,
            )
            assert reply.status_code == 201, reply.text
            await _until(lambda: callback.received, "the reply at the callback", processes)
            await _until(
                lambda: [
                    e
                    for e in supervisor_a.events("message.updated")
                    if e["payload"].get("id") == reply.json()["id"] and e["payload"].get("delivery_status") == "sent"
                ],
                "the 'sent' update on A's socket",
                processes,
            )
            await asyncio.sleep(1.0)
            assert (
                len(callback.received) == 1
                and json.loads(callback.received[0]["body"])["message"]["text"] == f"{tag} Eccomi"
            )

            # 5. The broker goes away: each process keeps serving its own clients and is not ready.
            broker.kill()
            for base in (serve_a, serve_b):
                await _until(lambda base=base: _readiness(base)[0] == 503, f"{base} not ready", processes)
                assert {k: v for k, v in _readiness(base)[1].items() if k in ("bus", "database")} == {
                    "bus": "unreachable",
                    "database": "ok",
                }
            during = [f"{tag} durante {n}" for n in range(3)]
            for number, text in enumerate(during):
                posted = await asyncio.to_thread(
                    _post_inbound, serve_a, inbox, f"{tag}-outage-{number}", text, f"{tag}@example.com"
                )
                assert posted.status_code == 200, posted.text
            await _until(
                lambda: _texts(supervisor_a, f"{tag} durante") == during,
                "A's own client served during the outage",
                processes,
            )

            # 6. The broker comes back: both ready again, and B has every event once, in order.
            await broker.start()
            for base in (serve_a, serve_b):
                await _until(lambda base=base: _readiness(base)[0] == 200, f"{base} ready again", processes, timeout=45)
            after = await asyncio.to_thread(
                _post_inbound, serve_a, inbox, f"{tag}-after", f"{tag} dopo", f"{tag}@example.com"
            )
            assert after.status_code == 200, after.text
            await _until(
                lambda: _texts(agent_b, f"{tag} dopo"),
                "a live message on B after the broker returned",
                processes,
                timeout=8,
            )
            assert _texts(agent_b, f"{tag} durante") == during
            for socket_ in (agent_b, supervisor_a):
                ids = [e["id"] for e in socket_.events()]
                assert ids == sorted(set(ids)), "every event once, in order"
        finally:
            await agent_b.close()
            await supervisor_a.close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 240))
    finally:
        codes = processes.stop()
        broker.kill()
        callback.close()
        rt.close()
    logs = processes.logs()
    # uvicorn re-raises SIGTERM after its graceful shutdown, so a clean serve exits -15.
    assert (
        codes["worker"] == 0 and codes["serve-a"] in (0, -signal.SIGTERM) and codes["serve-b"] in (0, -signal.SIGTERM)
    ), logs
    assert logs.count("Finished server process") == 2, logs
    assert SECRET not in logs, "secrets must never be logged"
