#!/usr/bin/env python3
"""Realtime: inbound API message → agent WebSocket latency, and throughput with two ``serve`` processes against one.

Part 1, latency (one process). The bench:

1. creates a fresh database (a temporary SQLite file; a ``raccordo_bench_*`` PostgreSQL
   database, dropped at the end), migrates it, and creates through the services a tenant,
   an owner, ``--users`` agents with one API token each, and an API-channel inbox;
2. starts the real ``raccordo serve`` command (its typer entry point, in a child process,
   on 127.0.0.1 and a free port) with its defaults: in-process bus, embedded worker;
3. opens ``--sockets`` agent WebSockets on it from this process (asyncio, several
   sockets per agent, token in the ``Authorization`` header), waits for the presence
   events of the connections to settle, then posts signed inbound API messages at a
   fixed ``--rate`` (open loop: each post leaves on its schedule whatever the earlier
   ones are doing). Every message comes from a new customer, so it opens an unassigned
   conversation: the rule in ``domain/realtime.py`` makes its ``message.created`` event
   visible to every agent of the tenant;
4. timestamps, on one monotonic clock, when each message's ``message.created`` event
   reaches the first socket and when it has reached every socket (fan-out complete),
   and reports p50/p99 from the scheduled send time.

Part 2, scale-out (same database). Two ``serve`` processes
(``RACCORDO_EMBEDDED_WORKER=false``, one ``raccordo worker``, a Redis or NATS bus) are
started. In configuration *one* every socket is on the first process and every post
goes to it (the second is idle); in *two* the sockets and the posts are split between
both. A closed loop with ``--concurrency`` messages in flight (the next message leaves
when one has reached every socket) measures delivered msgs/s; configurations alternate
in rounds (one, two, two, one, ...). The ratio two/one is the scale-out factor.

Part 3, fan-out (``--part fanout``, alone; bench/realtime_fanout.py): events committed by
the bench at 100/s to one agent's sockets and at 20/s to every socket, against a bare
websockets server broadcasting the same JSON (the in-run baseline), optionally another
checkout's server (``--compare-src``), and this checkout's: p99, frames/s, server CPU per
delivery and the ratio to the baseline.

Afterwards it checks, from the database, that every socket got every ``message.created``
event the visibility rule gives it, exactly once, and fails when one is missing.

Everything goes to 127.0.0.1; every loop is bounded in count and in time; child
processes stop with the bench, however it ends. Run ``python bench/realtime.py --help``
for the options; bench/README.md explains the output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import (
    DEFAULT_POSTGRES_URL,
    SECRET_KEY,
    BenchError,
    cpu_seconds,
    create_database,
    free_port,
    percentile,
    server_versions,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUS_URLS = {"redis": "redis://127.0.0.1:6379/0", "nats": "nats://127.0.0.1:4222"}
BUS_URL_ENV = {"redis": "RACCORDO_BENCH_REDIS_URL", "nats": "RACCORDO_BENCH_NATS_URL"}
HOW_TO_START = {
    "redis": "start it with: redis-server --daemonize yes (or set RACCORDO_BENCH_REDIS_URL / --bus-url)",
    "nats": "start it with: nats-server -a 127.0.0.1 -p 4222 & (or set RACCORDO_BENCH_NATS_URL / --bus-url)",
}
MARK = "[rt:"  # the message text ends with [rt:<run>:<phase>:<index>]
PING = '{"type":"ping"}'
PING_EVERY = (
    15.0  # seconds between a socket's pings; the server drops a socket silent for 3 heartbeats + 10 s (70 s by default)
)
CONNECT_CONCURRENCY = 16  # handshakes in flight while opening the sockets
CONNECT_TIMEOUT = 30.0  # one handshake (and its hello)
SETTLE_QUIET = 1.0  # no event frame for this long: the connection burst (presence events) is over
SETTLE_LIMIT = 120.0
POST_TIMEOUT = 60.0


# --------------------------------------------------------------------------- processes


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit: 1,000 sockets on each side need more than the usual 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


PROFILE_ENV = "RACCORDO_BENCH_PROFILE"  # a child writes its cProfile statistics to this file when it stops


def child_main(kind: str, port: int, parent_pid: int, max_seconds: float) -> None:
    """A child process: the real ``raccordo serve`` (or ``raccordo worker``) command, with a watchdog."""

    def watchdog() -> None:
        # Never outlive the bench: stop when the parent is gone or the time budget is spent.
        deadline = time.monotonic() + max_seconds
        while time.monotonic() < deadline and os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(3)

    raise_nofile()
    threading.Thread(target=watchdog, daemon=True).start()
    if kind == "raw":  # the fan-out part's baseline: a bare websockets server
        from realtime_fanout import raw_server

        asyncio.run(raw_server(port, os.environ.get("RACCORDO_BENCH_RAW_DEFLATE") == "1"))
        return
    from raccordo.cli import app

    argv = ["serve", "--host", "127.0.0.1", "--port", str(port)] if kind == "serve" else ["worker"]
    profile = os.environ.get(PROFILE_ENV)
    if not profile:
        app(argv, prog_name="raccordo")
        return
    import cProfile

    # --profile-dir: where the server's time goes (cProfile slows it down: read the shares, not the latencies).
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        app(argv, prog_name="raccordo")
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


class Child:
    """``raccordo serve`` or ``raccordo worker`` in a child process, its output in a log file."""

    def __init__(self, name: str, kind: str, env: dict[str, str], log_path: Path, max_seconds: float) -> None:
        self.name = name
        self.kind = kind
        self.port = free_port() if kind in ("serve", "raw") else 0
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        self.log_path = log_path
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            kind,
            "--child-port",
            str(self.port),
            "--parent-pid",
            str(os.getpid()),
            "--child-max-seconds",
            str(int(max_seconds)),
        ]
        with open(log_path, "wb") as log:  # the child writes to its own copy of the descriptor
            self.process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        """serve: /readyz answers 200 (database and bus reachable); worker: still running after a moment."""
        import httpx

        deadline = time.monotonic() + timeout
        if self.kind == "worker":
            time.sleep(1.0)
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.process.returncode} at start")
            return {}
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.process.returncode} before it was ready")
            try:
                response = httpx.get(f"{self.base_url}/readyz", timeout=2.0, trust_env=False)
                if response.status_code == 200:
                    return dict(response.json())
                last = response.text[:300]
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
            time.sleep(0.1)
        raise BenchError(f"{self.name} was not ready on {self.base_url} within {timeout:.0f}s (last answer: {last})")

    def cpu(self) -> float | None:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # uvicorn and the worker shut down gracefully on SIGTERM
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1.0):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- setup


@dataclass
class Setup:
    tenant_id: int
    owner_token: str
    agents: list[tuple[int, str]]  # (user id, token)
    agent_teams: list[frozenset[int]]  # each agent's teams, for the visibility rule
    inbox_url: str
    inbox_secret: str


def setup_tenant(rt: Any, run_id: str, users: int) -> Setup:
    """A tenant, an owner, ``users`` agents with a token each, and an API inbox, through the services."""
    from raccordo.accounts.domain.actor import Actor, system_actor
    from raccordo.accounts.domain.roles import Role
    from raccordo.accounts.services import accounts
    from raccordo.accounts.services.accounts import user_team_ids
    from raccordo.channels.services import inboxes
    from raccordo.platform.store.db import unit_of_work

    with unit_of_work(rt.sessions) as session:
        tenant = accounts.create_tenant(session, f"bench-{run_id}", "Bench S.p.A.")
        system = system_actor(tenant.id)
        owner = accounts.create_user(
            session,
            system,
            email=f"owner@bench-{run_id}.example.com",
            name="Bench Owner",
            role="owner",
            password=None,
            language="en",
        )
        _, owner_token = accounts.create_token(session, Actor(tenant.id, owner.id, Role.OWNER), "bench")
        agents = []
        for index in range(users):
            user = accounts.create_user(
                session,
                system,
                email=f"agent{index}@bench-{run_id}.example.com",
                name=f"Agent {index}",
                role="agent",
                password=None,
                language="it",
            )
            agents.append((user.id, accounts.create_token(session, Actor(tenant.id, user.id, Role.AGENT), "bench")[1]))
        inbox, secrets_ = inboxes.create_inbox(
            session,
            rt.secretbox,
            Actor(tenant.id, owner.id, Role.OWNER),
            name="API bench",
            channel="api",
            settings={},
            secrets_={},
            business_hours=None,
        )
        teams = [frozenset(user_team_ids(session, tenant.id, user_id)) for user_id, _ in agents]
        return Setup(
            tenant.id,
            owner_token,
            agents,
            teams,
            f"/api/v1/channels/api/{inbox.identifier}/messages",
            secrets_["hmac_secret"],
        )


def subscriber(setup: Setup, agent: int) -> Any:
    from raccordo.accounts.domain.roles import Role
    from raccordo.realtime.domain.visibility import Subscriber

    return Subscriber(setup.tenant_id, setup.agents[agent][0], Role.AGENT, setup.agent_teams[agent])


def check_rule(setup: Setup) -> None:
    """Every socket must see each measured message: the rule has to show an unassigned
    conversation's message to every agent."""
    from raccordo.realtime.domain.visibility import visible

    event = {
        "type": "event",
        "tenant_id": setup.tenant_id,
        "kind": "message.created",
        "conversation_id": 1,
        "contact_id": 1,
        "user_id": None,
        "team_id": None,
        "payload": {},
    }
    for position in range(len(setup.agents)):
        if not visible(event, subscriber(setup, position)):
            raise BenchError(
                "domain/realtime.visible no longer shows a message in an unassigned conversation to every agent; "
                "choose other subscribers in the bench"
            )


def message_body(run_id: str, tag: str, index: int) -> bytes:
    """A message from a new customer: it opens an unassigned conversation, visible to every agent."""
    payload = {
        "message_id": f"rt-{run_id}-{tag}-{index}",
        "contact": {
            "name": f"Cliente {tag} {index}",
            "language": "it",
            "identities": [{"kind": "email", "value": f"rt.{run_id}.{tag}.{index}@example.com"}],
        },
        "text": f"Buongiorno, il mio ordine non è ancora arrivato. {MARK}{run_id}:{tag}:{index}]",
    }
    return json.dumps(payload, separators=(",", ":")).encode()


# --------------------------------------------------------------------------- sockets and delivery tracking


@dataclass(eq=False)
class Sock:
    index: int
    user: int  # index into Setup.agents
    server: int  # index into the serve processes
    ws: Any = None
    reader: asyncio.Task[None] | None = None
    frames: int = 0
    events: int = 0
    last_event_id: int = 0
    order_violations: int = 0
    closing: bool = False  # closed by the bench
    close_code: int | None = None
    close_reason: str = ""


class Phase:
    """One batch of posted messages and what each socket of the phase received of them."""

    def __init__(self, tag: str, n: int, sockets: list[Sock], setup: Setup) -> None:
        self.tag = tag
        self.n = n
        self.sockets = list(sockets)
        self.subscribers = [subscriber(setup, s.user) for s in self.sockets]
        # Which sockets must get message n: the rule applied to the event itself, on its first arrival
        # (check_rule made sure it is every socket here; verify() recomputes it from the database).
        self.must: list[bytes | None] = [None] * n
        self.expected: list[int | None] = [None] * n
        self.position = {s.index: k for k, s in enumerate(self.sockets)}
        self.got = [bytearray(n) for _ in self.sockets]  # per socket, per message: times received (capped at 255)
        nan = float("nan")
        self.scheduled = [nan] * n
        self.started = [nan] * n
        self.answered = [nan] * n
        self.first = [nan] * n
        self.last = [nan] * n
        self.count = [0] * n
        self.posted_message_id: list[int | None] = [None] * n
        self.event_message_id: list[int | None] = [None] * n
        self.duplicates = 0
        self.unexpected = 0
        self.waiters: dict[int, asyncio.Event] = {}
        self.began = self.ended = nan
        self.cpu: dict[str, float | None] = {}
        self.frames = 0

    def done(self, index: int) -> bool:
        expected = self.expected[index]
        return expected is not None and self.count[index] >= expected

    def waiter(self, index: int) -> asyncio.Event:
        event = self.waiters.setdefault(index, asyncio.Event())
        if self.done(index):
            event.set()
        return event

    def complete(self) -> int:
        return sum(1 for index in range(self.n) if self.done(index))


class Tracker:
    """Receives every frame of every socket; the hot path parses only ``message.created`` frames."""

    def __init__(self, run_id: str) -> None:
        from raccordo.realtime.domain.visibility import visible

        self.visible = visible
        self.run_id = run_id
        self.phases: dict[str, Phase] = {}
        self.stray = 0  # events of this run for a phase that is not tracked, or a socket outside it
        self.foreign = 0  # message.created events without this run's mark
        self.unparsable = 0

    def on_frame(self, sock: Sock, raw: str, now: float) -> None:
        sock.frames += 1
        if '"event"' not in raw:  # the value of "type" in event frames; hello, heartbeat and pong lack it
            return
        sock.events += 1
        if "message.created" not in raw:
            return
        try:
            message = json.loads(raw)
        except ValueError:
            self.unparsable += 1
            return
        if message.get("type") != "event" or message.get("kind") != "message.created":
            return
        event_id = int(message.get("id") or 0)
        if event_id <= sock.last_event_id:
            sock.order_violations += 1
        sock.last_event_id = max(sock.last_event_id, event_id)
        payload = message.get("payload") or {}
        mark = parse_mark(str(payload.get("text") or ""))
        if mark is None or mark[0] != self.run_id:
            self.foreign += 1
            return
        phase = self.phases.get(mark[1])
        position = phase.position.get(sock.index) if phase is not None else None
        if phase is None or position is None or not 0 <= mark[2] < phase.n:
            self.stray += 1
            return
        index = mark[2]
        must = phase.must[index]
        if must is None:
            must = phase.must[index] = bytes(1 if self.visible(message, sub) else 0 for sub in phase.subscribers)
            phase.expected[index] = sum(must)
        row = phase.got[position]
        seen = row[index]
        if seen < 255:
            row[index] = seen + 1
        if seen:
            phase.duplicates += 1
            return
        if not must[position]:
            phase.unexpected += 1
            return
        phase.count[index] += 1
        if phase.count[index] == 1:
            phase.first[index] = now
            phase.event_message_id[index] = payload.get("id")
        if phase.count[index] == phase.expected[index]:
            phase.last[index] = now
            waiter = phase.waiters.get(index)
            if waiter is not None:
                waiter.set()


def parse_mark(text: str) -> tuple[str, str, int] | None:
    at = text.rfind(MARK)
    if at < 0 or not text.endswith("]"):
        return None
    parts = text[at + len(MARK) : -1].split(":")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])


async def read_loop(sock: Sock, tracker: Tracker) -> None:
    from websockets.exceptions import ConnectionClosed

    clock = time.perf_counter
    try:
        async for raw in sock.ws:  # ends when the socket closes; the run cancels it otherwise
            if isinstance(raw, str):
                tracker.on_frame(sock, raw, clock())
    except ConnectionClosed:
        pass
    finally:
        sock.close_code = sock.ws.close_code
        sock.close_reason = sock.ws.close_reason or ""


async def open_sockets(
    sockets: list[Sock], servers: list[Child], setup: Setup, tracker: Tracker, compression: str | None, deadline: float
) -> float:
    """Connect every socket (bounded concurrency), read its hello, start its reader. Returns the seconds it took."""
    from websockets.asyncio.client import connect

    semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)
    started = time.perf_counter()

    async def open_one(sock: Sock) -> None:
        async with semaphore:
            if time.monotonic() > deadline:
                raise BenchError("time limit reached while opening the sockets (see --time-limit)")
            token = setup.agents[sock.user][1]
            try:
                ws = await connect(
                    servers[sock.server].ws_url,
                    additional_headers={"Authorization": f"Bearer {token}"},
                    compression=compression,
                    proxy=None,
                    open_timeout=CONNECT_TIMEOUT,
                    ping_interval=None,
                    close_timeout=5,
                    max_queue=1024,
                    user_agent_header="raccordo-bench",
                )
            except Exception as exc:  # noqa: BLE001 - a refused or failed handshake is the bench's failure
                raise BenchError(
                    f"socket {sock.index} could not connect to {servers[sock.server].name}: {type(exc).__name__}: {exc}"
                ) from None
            try:
                hello = json.loads(await asyncio.wait_for(ws.recv(), CONNECT_TIMEOUT))
            except Exception as exc:  # noqa: BLE001
                await ws.close()
                raise BenchError(f"socket {sock.index} got no hello: {type(exc).__name__}: {exc}") from None
            if hello.get("type") != "hello" or hello.get("user_id") != setup.agents[sock.user][0]:
                await ws.close()
                raise BenchError(
                    f"socket {sock.index}: expected hello for user {setup.agents[sock.user][0]}, got {str(hello)[:200]}"
                )
            sock.ws, sock.frames, sock.events = ws, 0, 0
            sock.last_event_id = int(hello.get("last_event_id") or 0)
            sock.closing, sock.close_code, sock.close_reason = False, None, ""
            sock.reader = asyncio.create_task(read_loop(sock, tracker))

    await gather_or_cancel([open_one(s) for s in sockets])
    return time.perf_counter() - started


async def close_sockets(sockets: list[Sock]) -> None:
    async def close_one(sock: Sock) -> None:
        sock.closing = True
        if sock.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sock.ws.close(), 10)
        if sock.reader is not None:
            sock.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sock.reader

    await asyncio.gather(*(close_one(s) for s in sockets))


def dropped(sockets: list[Sock]) -> list[Sock]:
    return [s for s in sockets if s.reader is not None and s.reader.done() and not s.closing]


async def settle(sockets: list[Sock], deadline: float) -> float:
    """Wait until no socket received an event frame for SETTLE_QUIET s (the presence burst of the
    connections is over)."""
    started = time.perf_counter()
    limit = min(deadline, time.monotonic() + SETTLE_LIMIT)
    last_total, last_change = -1, time.monotonic()
    while True:
        total = sum(s.events for s in sockets)
        now = time.monotonic()
        if total != last_total:
            last_total, last_change = total, now
        elif now - last_change >= SETTLE_QUIET:
            return time.perf_counter() - started
        if now > limit:
            raise BenchError(f"the sockets kept receiving events for {SETTLE_LIMIT:.0f}s after connecting")
        if dropped(sockets):
            raise BenchError(describe_dropped(sockets))
        await asyncio.sleep(0.1)


def describe_dropped(sockets: list[Sock]) -> str:
    lost = dropped(sockets)
    codes: dict[str, int] = {}
    for s in lost:
        key = f"{s.close_code} {s.close_reason}".strip()
        codes[key] = codes.get(key, 0) + 1
    return f"{len(lost)} socket(s) closed by the server: " + "; ".join(f"{n} × {k}" for k, n in codes.items())


async def pinger(sockets_ref: list[list[Sock]], deadline: float) -> None:
    """Each open socket sends the app-level ping every PING_EVERY s, spread evenly, as a browser tab does."""
    from websockets.exceptions import ConnectionClosed

    while time.monotonic() < deadline:
        sockets = list(sockets_ref[0])
        step = PING_EVERY / max(1, len(sockets))
        for sock in sockets:
            if sock.ws is not None and not sock.closing and sock.reader is not None and not sock.reader.done():
                with contextlib.suppress(ConnectionClosed):
                    await sock.ws.send(PING)
            await asyncio.sleep(step)
        if not sockets:
            await asyncio.sleep(1.0)


async def gather_or_cancel(coroutines: list[Any]) -> list[Any]:
    """Run the coroutines as tasks; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --------------------------------------------------------------------------- posting


async def post(client: Any, phase: Phase, index: int, base_url: str, setup: Setup, body: bytes) -> None:
    from raccordo.channels import signing

    headers = {"Content-Type": "application/json", **signing.sign(setup.inbox_secret, body)}
    phase.started[index] = time.perf_counter()
    try:
        response = await client.post(base_url + setup.inbox_url, content=body, headers=headers, timeout=POST_TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        raise BenchError(f"{phase.tag} message {index}: POST failed: {type(exc).__name__}: {exc}") from None
    phase.answered[index] = time.perf_counter()
    if response.status_code != 200:
        raise BenchError(f"{phase.tag} message {index} answered HTTP {response.status_code}: {response.text[:500]}")
    ids = response.json().get("message_ids") or []
    phase.posted_message_id[index] = ids[0] if ids else None


def machine_cpu() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine, all cores, from /proc/stat (Linux), or None."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / ticks, sum(fields[:8]) / ticks


def cpu_snapshot(children: dict[str, Child]) -> dict[str, Any]:
    snapshot: dict[str, Any] = {name: child.cpu() for name, child in children.items()}
    snapshot["client"] = time.process_time()
    snapshot["machine"] = machine_cpu()
    return snapshot


def cpu_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float | None]:
    """CPU seconds per process; "machine" becomes the busy share of all cores, in percent."""
    delta: dict[str, float | None] = {}
    for key in before:
        if key == "machine":
            b, a = before[key], after[key]
            delta[key] = round((a[0] - b[0]) / (a[1] - b[1]) * 100, 1) if b and a and a[1] > b[1] else None
        else:
            delta[key] = (after[key] - before[key]) if before[key] is not None and after[key] is not None else None
    return delta


async def open_loop(
    client: Any,
    phase: Phase,
    rate: float,
    target: Child,
    setup: Setup,
    run_id: str,
    deadline: float,
    drain: float,
    children: dict[str, Child],
) -> None:
    """Post phase.n messages at ``rate`` per second on schedule (open loop), then wait for their delivery."""
    cpu_before = cpu_snapshot(children)
    frames_before = sum(s.frames for s in phase.sockets)
    start = time.perf_counter() + 0.05
    phase.began = start
    tasks: list[asyncio.Task[None]] = []
    try:
        for index in range(phase.n):
            at = start + index / rate
            wait = at - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            if time.monotonic() > deadline:
                raise BenchError(f"time limit reached while posting the {phase.tag} messages (see --time-limit)")
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            phase.scheduled[index] = at
            tasks.append(
                asyncio.create_task(
                    post(client, phase, index, target.base_url, setup, message_body(run_id, phase.tag, index))
                )
            )
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    # Drain: wait (bounded) until every message reached every socket, or stop waiting.
    limit = min(deadline, time.monotonic() + drain)
    while phase.complete() < phase.n and time.monotonic() < limit and not dropped(phase.sockets):
        await asyncio.sleep(0.02)
    done = [x for x in phase.last if not math.isnan(x)]
    phase.ended = max(done) if done else time.perf_counter()
    phase.cpu = cpu_delta(cpu_before, cpu_snapshot(children))
    phase.frames = sum(s.frames for s in phase.sockets) - frames_before


async def closed_loop(
    client: Any,
    phase: Phase,
    concurrency: int,
    targets: list[Child],
    setup: Setup,
    run_id: str,
    deadline: float,
    delivery_timeout: float,
    children: dict[str, Child],
) -> None:
    """``concurrency`` workers: post a message (to the targets in turn), wait until it reached every
    socket, post the next."""
    pending = iter(range(phase.n))  # shared: each message is posted once

    async def worker() -> None:
        for index in pending:
            if time.monotonic() > deadline:
                raise BenchError(f"time limit reached during the {phase.tag} messages (see --time-limit)")
            reached = phase.waiter(index)
            phase.scheduled[index] = time.perf_counter()
            await post(
                client,
                phase,
                index,
                targets[index % len(targets)].base_url,
                setup,
                message_body(run_id, phase.tag, index),
            )
            try:
                await asyncio.wait_for(reached.wait(), max(0.1, min(delivery_timeout, deadline - time.monotonic())))
            except TimeoutError:
                lost = dropped(phase.sockets)
                why = f"; {describe_dropped(phase.sockets)}" if lost else ""
                must = phase.expected[index]
                raise BenchError(
                    f"{phase.tag} message {index} reached {phase.count[index]} of {'?' if must is None else must} "
                    f"sockets within {delivery_timeout:.0f}s{why}"
                ) from None

    cpu_before = cpu_snapshot(children)
    frames_before = sum(s.frames for s in phase.sockets)
    phase.began = time.perf_counter()
    await gather_or_cancel([worker() for _ in range(max(1, min(concurrency, phase.n)))])
    phase.ended = time.perf_counter()
    phase.cpu = cpu_delta(cpu_before, cpu_snapshot(children))
    phase.frames = sum(s.frames for s in phase.sockets) - frames_before


# --------------------------------------------------------------------------- figures


def ms(values: list[float], p: float) -> float | None:
    values = [v for v in values if not math.isnan(v)]
    return round(percentile(values, p) * 1000, 2) if values else None


def latency_figures(phase: Phase) -> dict[str, Any]:
    def series(ends: list[float]) -> list[float]:
        return [e - s for e, s in zip(ends, phase.scheduled, strict=True) if not math.isnan(e) and not math.isnan(s)]

    post_, first, all_ = series(phase.answered), series(phase.first), series(phase.last)
    lag = series(phase.started)
    seconds = phase.ended - phase.began if not math.isnan(phase.ended) else float("nan")

    def stats(values: list[float]) -> dict[str, Any]:
        return {
            "count": len(values),
            "p50_ms": ms(values, 50),
            "p99_ms": ms(values, 99),
            "mean_ms": round(sum(values) / len(values) * 1000, 2) if values else None,
            "max_ms": round(max(values) * 1000, 2) if values else None,
        }

    return {
        "messages": phase.n,
        "sockets": len(phase.sockets),
        "sockets_per_message": sorted({e for e in phase.expected if e is not None}),
        "post_answered": stats(post_),
        "first_socket": stats(first),
        "all_sockets": stats(all_),
        "send_lag_p99_ms": ms(lag, 99),
        "send_lag_max_ms": round(max(lag) * 1000, 2) if lag else None,
        "complete_messages": phase.complete(),
        "seconds": round(seconds, 3),
        "frames_received": phase.frames,
        "frames_per_s": round(phase.frames / seconds, 1) if seconds and seconds > 0 else None,
        "cpu_percent": cpu_percent(phase.cpu, seconds),
    }


def cpu_percent(cpu: dict[str, float | None], seconds: float) -> dict[str, float | None]:
    """CPU time of each process over the phase as a percentage of one core; "machine": busy % of all cores."""
    return {
        k: v if k == "machine" else (round(v / seconds * 100, 1) if v is not None and seconds and seconds > 0 else None)
        for k, v in cpu.items()
    }


# --------------------------------------------------------------------------- verification


def verify(rt: Any, setup: Setup, tracker: Tracker, phases: list[Phase]) -> dict[str, Any]:
    """From the database: the messages, their events, and which socket had to get which event (the rule itself)."""
    from sqlalchemy import func, select

    from raccordo.accounts.domain.roles import Role
    from raccordo.accounts.services.accounts import user_team_ids
    from raccordo.platform.events import event_message
    from raccordo.platform.store.db import unit_of_work
    from raccordo.platform.store.models import Event
    from raccordo.realtime.domain.visibility import Subscriber, visible
    from raccordo.record.models import Message

    sent = sum(p.n for p in phases)
    by_tag = {p.tag: p for p in phases}
    with unit_of_work(rt.sessions) as session:
        stored = int(
            session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.tenant_id == setup.tenant_id, Message.direction == "inbound")
            )
            or 0
        )
        rows = list(
            session.scalars(
                select(Event)
                .where(Event.tenant_id == setup.tenant_id, Event.kind == "message.created")
                .order_by(Event.id)
            )
        )
        events = [event_message(row) for row in rows]
        subscribers = {
            user_id: Subscriber(
                setup.tenant_id, user_id, Role.AGENT, frozenset(user_team_ids(session, setup.tenant_id, user_id))
            )
            for user_id, _ in setup.agents
        }
    expected = received = missing = unexpected = 0
    id_mismatches = unknown_events = 0
    seen: set[tuple[str, int]] = set()
    for event in events:
        mark = parse_mark(str(event["payload"].get("text") or ""))
        phase = by_tag.get(mark[1]) if mark is not None and mark[0] == tracker.run_id else None
        if phase is None or not 0 <= mark[2] < phase.n:  # type: ignore[index]
            unknown_events += 1
            continue
        index = mark[2]  # type: ignore[index]
        seen.add((phase.tag, index))
        if phase.posted_message_id[index] != event["payload"].get("id") or phase.event_message_id[index] not in (
            None,
            event["payload"].get("id"),
        ):
            id_mismatches += 1
        for position, sock in enumerate(phase.sockets):
            got = phase.got[position][index]
            if visible(event, subscribers[setup.agents[sock.user][0]]):
                expected += 1
                received += 1 if got else 0
                missing += 0 if got else 1
            elif got:
                unexpected += 1
    duplicates = sum(p.duplicates for p in phases)
    order = sum(s.order_violations for p in phases for s in p.sockets)
    facts = {
        "messages_posted": sent,
        "inbound_messages_in_db": stored,
        "message_created_events_in_db": len(events),
        "events_without_a_posted_message": unknown_events,
        "posted_messages_without_event": sent - len(seen),
        "message_id_mismatches": id_mismatches,
        "expected_deliveries": expected,
        "received_deliveries": received,
        "missing_deliveries": missing,
        "duplicate_deliveries": duplicates,
        "unexpected_deliveries": unexpected,
        "out_of_order_events": order,
        "stray_events": tracker.stray,
        "foreign_events": tracker.foreign,
    }
    problems = []
    if stored != sent:
        problems.append(f"{stored} inbound messages stored for {sent} posted")
    if len(events) != sent or unknown_events or sent != len(seen):
        problems.append(
            f"{len(events)} message.created events stored for {sent} posted ({unknown_events} unknown, "
            f"{sent - len(seen)} posted without one)"
        )
    if id_mismatches:
        problems.append(f"{id_mismatches} events carry another message id than the POST answered")
    if missing:
        problems.append(f"{missing} of {expected} expected deliveries missing")
    if duplicates:
        problems.append(f"{duplicates} duplicate deliveries")
    if unexpected:
        problems.append(f"{unexpected} deliveries the visibility rule does not allow")
    if order:
        problems.append(f"{order} events out of order on a socket")
    facts["problems"] = problems
    return facts


# --------------------------------------------------------------------------- the run


def child_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RACCORDO_")}
    env.update(
        RACCORDO_DATA_DIR=str(data_dir),
        RACCORDO_DATABASE_URL=database_url,
        RACCORDO_SECRET_KEY=SECRET_KEY,
        RACCORDO_LOG_LEVEL="WARNING",
        RACCORDO_AUTO_MIGRATE="false",
    )
    env.update(extra)
    return env


def layout(sockets: list[Sock], servers: int) -> None:
    for sock in sockets:
        sock.server = sock.index % servers


class Run:
    def __init__(self, args: argparse.Namespace, data_dir: Path) -> None:
        self.args = args
        self.data_dir = data_dir
        self.deadline = time.monotonic() + args.time_limit
        self.run_id = uuid.uuid4().hex[:8]
        self.tracker = Tracker(self.run_id)
        self.children: list[Child] = []
        self.phases: list[Phase] = []
        self.compression = None if args.compression == "none" else "deflate"
        self.setup: Setup | None = None

    def start(self, name: str, kind: str, env: dict[str, str]) -> Child:
        if self.args.profile_dir is not None and kind != "raw":
            self.args.profile_dir.mkdir(parents=True, exist_ok=True)
            env = {**env, PROFILE_ENV: str(self.args.profile_dir.resolve() / f"{name}.prof")}
        child = Child(name, kind, env, self.data_dir / f"{name}.log", self.args.time_limit + 60)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in self.children:
            child.stop()

    def logs(self) -> str:
        parts = []
        for child in self.children:
            tail = child.log_tail()
            if tail.strip():
                parts.append(f"--- {child.name} log (tail) ---\n{tail}")
        return "\n".join(parts)

    def new_phase(self, tag: str, n: int, sockets: list[Sock]) -> Phase:
        assert self.setup is not None
        phase = Phase(tag, n, sockets, self.setup)
        self.tracker.phases[tag] = phase
        self.phases.append(phase)
        return phase

    def check_sockets(self, sockets: list[Sock]) -> None:
        if dropped(sockets):
            raise BenchError(describe_dropped(sockets))

    # --- part 1 ------------------------------------------------------------------------------

    async def latency(self, setup: Setup, database_url: str) -> dict[str, Any]:
        import httpx

        args = self.args
        server = self.start("serve-latency", "serve", child_env(self.data_dir, database_url))
        await asyncio.to_thread(server.wait_ready)
        sockets = [Sock(i, i % len(setup.agents), 0) for i in range(args.sockets)]
        holder = [sockets]
        ping_task = asyncio.create_task(pinger(holder, self.deadline))
        try:
            connect_s = await open_sockets(sockets, [server], setup, self.tracker, self.compression, self.deadline)
            settle_s = await settle(sockets, self.deadline)
            children = {"serve": server}
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
                if args.warmup:
                    warm = self.new_phase("lw", args.warmup, sockets)
                    await open_loop(
                        client, warm, args.rate, server, setup, self.run_id, self.deadline, args.drain_timeout, children
                    )
                    self.check_sockets(sockets)
                measured = self.new_phase("lm", args.messages, sockets)
                await open_loop(
                    client, measured, args.rate, server, setup, self.run_id, self.deadline, args.drain_timeout, children
                )
            self.check_sockets(sockets)
            figures = latency_figures(measured)
        finally:
            ping_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ping_task
            await close_sockets(sockets)
            server.stop()
        return {
            "processes": "1 serve (in-process bus, embedded worker)",
            "sockets": args.sockets,
            "users": len(setup.agents),
            "rate_msgs_per_s": args.rate,
            "warmup": args.warmup,
            "connect_seconds": round(connect_s, 3),
            "settle_seconds": round(settle_s, 3),
            **figures,
        }

    # --- part 2 ------------------------------------------------------------------------------

    async def scale_out(self, setup: Setup, database_url: str) -> dict[str, Any]:
        import httpx

        args = self.args
        # A subject of this run's own: other users of the broker neither see its wake-ups nor send it theirs.
        extra = {
            "RACCORDO_BUS_URL": args.bus_url,
            "RACCORDO_BUS_SUBJECT": f"raccordo.bench.{self.run_id}",
            "RACCORDO_EMBEDDED_WORKER": "false",
        }
        serves = [
            self.start(f"serve-{name}", "serve", child_env(self.data_dir, database_url, **extra)) for name in ("a", "b")
        ]
        worker = self.start("worker", "worker", child_env(self.data_dir, database_url, **extra))
        for child in serves:
            ready = await asyncio.to_thread(child.wait_ready)
            if ready.get("bus") != "ok":
                raise BenchError(f"{child.name} reports bus {ready.get('bus')!r}")
        await asyncio.to_thread(worker.wait_ready)
        children = {"serve_a": serves[0], "serve_b": serves[1], "worker": worker}
        sockets = [Sock(i, i % len(setup.agents), 0) for i in range(args.sockets)]
        holder: list[list[Sock]] = [[]]
        ping_task = asyncio.create_task(pinger(holder, self.deadline))
        order = [config for r in range(args.rounds) for config in (("one", "two") if r % 2 == 0 else ("two", "one"))]
        rounds: list[dict[str, Any]] = []
        samples: dict[str, list[float]] = {"one": [], "two": []}  # fan-out completion times, seconds
        current: str | None = None
        try:
            limits = httpx.Limits(
                max_connections=max(8, 2 * args.concurrency), max_keepalive_connections=max(8, 2 * args.concurrency)
            )
            async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
                for number, config in enumerate(order):
                    processes = 1 if config == "one" else 2
                    targets = serves[:processes]
                    if config != current:
                        holder[0] = []
                        await close_sockets(sockets)
                        layout(sockets, processes)
                        await open_sockets(sockets, serves, setup, self.tracker, self.compression, self.deadline)
                        holder[0] = sockets
                        await settle(sockets, self.deadline)
                        current = config
                        if args.warmup:
                            warm = self.new_phase(f"w{number}", args.warmup, sockets)
                            await closed_loop(
                                client,
                                warm,
                                args.concurrency,
                                targets,
                                setup,
                                self.run_id,
                                self.deadline,
                                args.drain_timeout,
                                children,
                            )
                    phase = self.new_phase(f"s{number}", args.scale_messages, sockets)
                    await closed_loop(
                        client,
                        phase,
                        args.concurrency,
                        targets,
                        setup,
                        self.run_id,
                        self.deadline,
                        args.drain_timeout,
                        children,
                    )
                    self.check_sockets(sockets)
                    seconds = phase.ended - phase.began
                    fanout = [e - s for e, s in zip(phase.last, phase.scheduled, strict=True)]
                    samples[config].extend(fanout)
                    rounds.append(
                        {
                            "config": config,
                            "serve_processes": processes,
                            "messages": phase.n,
                            "seconds": round(seconds, 3),
                            "msgs_per_s": round(phase.n / seconds, 2),
                            "all_sockets_p50_ms": ms(fanout, 50),
                            "all_sockets_p99_ms": ms(fanout, 99),
                            "frames_per_s": round(phase.frames / seconds, 1),
                            "cpu_percent": cpu_percent(phase.cpu, seconds),
                            "sockets_per_process": [sum(1 for s in sockets if s.server == k) for k in range(2)],
                        }
                    )
        finally:
            ping_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ping_task
            await close_sockets(sockets)
            for child in (*serves, worker):
                child.stop()

        def summary(config: str) -> dict[str, Any]:
            mine = [r for r in rounds if r["config"] == config]
            messages = sum(r["messages"] for r in mine)
            seconds = sum(r["seconds"] for r in mine)
            cpu: dict[str, float | None] = {}
            for key in mine[0]["cpu_percent"]:
                values = [r["cpu_percent"][key] for r in mine]
                cpu[key] = (
                    round(sum(v * r["seconds"] for v, r in zip(values, mine, strict=True)) / seconds, 1)
                    if all(v is not None for v in values)
                    else None
                )  # type: ignore[operator]
            return {
                "serve_processes": mine[0]["serve_processes"],
                "rounds": len(mine),
                "messages": messages,
                "seconds": round(seconds, 3),
                "msgs_per_s": round(messages / seconds, 2),
                "all_sockets_p50_ms": ms(samples[config], 50),
                "all_sockets_p99_ms": ms(samples[config], 99),
                "frames_per_s": round(sum(r["frames_per_s"] * r["seconds"] for r in mine) / seconds, 1),
                "cpu_percent": cpu,
            }

        one, two = summary("one"), summary("two")
        return {
            "bus": args.bus,
            "bus_url": args.bus_url,
            "sockets": args.sockets,
            "users": len(setup.agents),
            "concurrency": args.concurrency,
            "messages_per_round": args.scale_messages,
            "warmup": args.warmup,
            "order": order,
            "one": one,
            "two": two,
            "factor": round(two["msgs_per_s"] / one["msgs_per_s"], 3),
            "rounds": rounds,
        }

    # --- both --------------------------------------------------------------------------------

    async def run_parts(self, setup: Setup, database_url: str) -> dict[str, Any]:
        self.setup = setup
        out: dict[str, Any] = {}
        if self.args.part in ("latency", "both"):
            out["latency"] = await self.latency(setup, database_url)
        if self.args.part in ("scale", "both"):
            out["scale_out"] = await self.scale_out(setup, database_url)
        return out


def run_bench(args: argparse.Namespace, data_root: Path) -> dict[str, Any]:
    from raccordo.bootstrap.install import install
    from raccordo.platform.config import Settings
    from raccordo.platform.runtime import Runtime
    from raccordo.platform.store.migrate import upgrade

    started_at = datetime.now(UTC)
    nofile = raise_nofile()
    if nofile < args.sockets * 2 + 200:
        raise BenchError(
            f"the open-file limit is {nofile}; {args.sockets} sockets need about {args.sockets * 2 + 200} "
            "(raise it with ulimit -n)"
        )
    if args.part in ("scale", "both", "fanout") and not reachable(args.bus_url, 6379 if args.bus == "redis" else 4222):
        raise BenchError(f"{args.bus} at {args.bus_url} is not reachable; {HOW_TO_START[args.bus]}")
    data_dir = data_root / args.backend
    data_dir.mkdir(parents=True, exist_ok=True)
    database = create_database(args.backend, data_dir, args.postgres_url)
    rt = None
    run = Run(args, data_dir)
    try:
        upgrade(database.url)
        install()  # tables, channels and domain-event subscriptions, as in the app
        rt = Runtime.build(Settings(data_dir=data_dir, database_url=database.url, secret_key=SECRET_KEY))
        users = args.users or max(1, math.ceil(args.sockets / 10))
        setup = setup_tenant(rt, run.run_id, users)
        check_rule(setup)
        versions = server_versions(rt)
        if args.part == "fanout":
            from realtime_fanout import fanout, problems

            os.environ["RACCORDO_BENCH_RAW_DEFLATE"] = "1" if run.compression else "0"
            ctx = {
                "args": args,
                "setup": setup,
                "run_id": run.run_id,
                "run": run,
                "rt": rt,
                "data_dir": data_dir,
                "database_url": database.url,
                "compression": run.compression,
            }
            try:
                results = asyncio.run(fanout(ctx))
            finally:
                run.stop_all()
            parts: dict[str, Any] = {"fanout": results}
            facts: dict[str, Any] = {
                "problems": problems(results),
                "missing_deliveries": sum(results["raccordo"][t]["missing"] for t in ("assigned", "list")),
            }
        else:
            try:
                parts = asyncio.run(run.run_parts(setup, database.url))
            finally:
                run.stop_all()
            facts = verify(rt, setup, run.tracker, run.phases)
        return {
            "backend": args.backend,
            "started_at": started_at.isoformat(timespec="seconds"),
            "run_id": run.run_id,
            "options": {
                "sockets": args.sockets,
                "users": users,
                "rate": args.rate,
                "messages": args.messages,
                "warmup": args.warmup,
                "scale_messages": args.scale_messages,
                "concurrency": args.concurrency,
                "rounds": args.rounds,
                "bus": args.bus,
                "compression": args.compression,
                "part": args.part,
            },
            **parts,
            "verification": facts,
            "missing_deliveries": facts["missing_deliveries"],
            "environment": {
                **versions,
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpu_count": os.cpu_count(),
                "open_file_limit": nofile,
                "server": "raccordo serve (uvicorn, 1 worker process each), log level WARNING",
                "client": "websockets (asyncio) + httpx.AsyncClient in the bench process, same machine",
            },
        }
    except BenchError as exc:
        logs = run.logs()
        raise BenchError(f"{args.backend}: {exc}" + (f"\n{logs}" if logs else "")) from None
    finally:
        run.stop_all()
        if rt is not None:
            rt.close()
        if database.drop is not None:
            database.drop()


# --------------------------------------------------------------------------- output


def fmt(value: Any, spec: str = ".1f") -> str:
    return "n/a" if value is None else format(value, spec)


def print_result(result: dict[str, Any]) -> None:
    print(f"\n== realtime on {result['backend']} ({result['environment']['database']}), run {result['run_id']}")
    lat = result.get("latency")
    if lat:
        print(
            f"latency: {lat['processes']}, {lat['sockets']} agent sockets ({lat['users']} agents), "
            f"{lat['messages']} messages at {lat['rate_msgs_per_s']:g} msgs/s open loop (+{lat['warmup']} warm-up)"
        )
        print(f"{'from the scheduled send to':<34} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}")
        per = lat["sockets_per_message"]
        reach = (str(per[0]) if len(per) == 1 else f"{per[0]}..{per[-1]}") if per else "?"
        for label, key in (
            ("the POST answered", "post_answered"),
            ("message.created on first socket", "first_socket"),
            (f"message.created on all {reach} sockets", "all_sockets"),
        ):
            row = lat[key]
            print(
                f"{label:<34} {fmt(row['p50_ms']):>8} {fmt(row['p99_ms']):>8} "
                f"{fmt(row['mean_ms']):>8} {fmt(row['max_ms']):>8}"
            )
        cpu = lat["cpu_percent"]
        print(
            f"{lat['complete_messages']}/{lat['messages']} messages reached every socket; "
            f"{fmt(lat['frames_per_s'], '.0f')} frames/s received; "
            f"CPU % of one core: serve {fmt(cpu.get('serve'))}, client {fmt(cpu.get('client'))}; "
            f"machine busy {fmt(cpu.get('machine'))}% of {os.cpu_count()} cores; "
            f"send lag p99 {fmt(lat['send_lag_p99_ms'])} ms"
        )
        print(
            f"latency p50/p99 first socket = {fmt(lat['first_socket']['p50_ms'])}/"
            f"{fmt(lat['first_socket']['p99_ms'])} ms, all sockets = {fmt(lat['all_sockets']['p50_ms'])}/"
            f"{fmt(lat['all_sockets']['p99_ms'])} ms"
        )
    scale = result.get("scale_out")
    if scale:
        print(
            f"\nscale-out: {scale['bus']} bus, 1 worker process, {scale['sockets']} sockets, "
            f"closed loop with {scale['concurrency']} in flight, "
            f"{scale['messages_per_round']} messages per round (+{scale['warmup']} warm-up per layout), "
            f"rounds {' '.join(scale['order'])}"
        )
        print(
            f"{'config':<7} {'serves':>6} {'msgs':>6} {'seconds':>8} {'msgs/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'frames/s':>9} {'machine':>8}  CPU % of one core: serve a / serve b / worker / client"
        )
        for name in ("one", "two"):
            row = scale[name]
            cpu = row["cpu_percent"]
            print(
                f"{name:<7} {row['serve_processes']:>6} {row['messages']:>6} {row['seconds']:>8.2f} "
                f"{row['msgs_per_s']:>8.1f} {fmt(row['all_sockets_p50_ms']):>8} "
                f"{fmt(row['all_sockets_p99_ms']):>8} {fmt(row['frames_per_s'], '.0f'):>9} "
                f"{fmt(cpu.get('machine')) + '%':>8}  {fmt(cpu.get('serve_a'))} / {fmt(cpu.get('serve_b'))} / "
                f"{fmt(cpu.get('worker'))} / {fmt(cpu.get('client'))}"
            )
        print(
            f"scale-out factor two/one = {scale['factor']:.2f} (two {scale['two']['msgs_per_s']:.1f} msgs/s / "
            f"one {scale['one']['msgs_per_s']:.1f} msgs/s)"
        )
        if result["backend"] == "sqlite":
            print(
                "note: on SQLite both processes share one database file and its single writer; "
                "the documented scale-out runs on PostgreSQL"
            )
    if result.get("fanout"):
        from realtime_fanout import print_fanout

        print_fanout(result["fanout"], result["options"]["sockets"], result["options"]["users"])
        v = result["verification"]
        print(
            f"verified: {v['missing_deliveries']} deliveries missing on this checkout's server; "
            + ("; ".join(v["problems"]) or "every event delivered reached exactly the sockets the rule allows, once")
        )
        return
    v = result["verification"]
    print(
        f"verified: {v['inbound_messages_in_db']} inbound messages and {v['message_created_events_in_db']} "
        f"message.created events stored for {v['messages_posted']} posted; "
        f"deliveries {v['received_deliveries']}/{v['expected_deliveries']} expected, "
        f"{v['missing_deliveries']} missing, {v['duplicate_deliveries']} duplicate, "
        f"{v['unexpected_deliveries']} unexpected, {v['out_of_order_events']} out of order"
    )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Inbound API message to agent WebSocket latency on one serve process, "
        "and the scale-out factor of two processes over one."
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument(
        "--part",
        choices=("latency", "scale", "both", "fanout"),
        default="both",
        help="which part to run (default both; fanout runs alone, see bench/realtime_fanout.py)",
    )
    parser.add_argument("--sockets", type=int, default=1000, help="agent WebSockets kept open (default 1000)")
    parser.add_argument(
        "--users", type=int, default=None, help="agents the sockets belong to, round robin (default: sockets / 10)"
    )
    parser.add_argument(
        "--rate", type=float, default=2.0, help="latency part: messages per second, open loop (default 2)"
    )
    parser.add_argument("--messages", type=int, default=200, help="latency part: measured messages (default 200)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="messages sent first and not measured, per part and per socket layout "
        "(default: 10%% of --messages, 5..50)",
    )
    parser.add_argument(
        "--scale-messages", type=int, default=150, help="scale-out part: measured messages per round (default 150)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=4, help="scale-out part: messages in flight, closed loop (default 4)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="scale-out part: rounds; each measures one and two, alternating order (default 2: one two two one)",
    )
    parser.add_argument(
        "--bus",
        choices=("redis", "nats"),
        default="redis",
        help="scale-out part: the bus between the processes (default redis)",
    )
    parser.add_argument(
        "--bus-url",
        default=None,
        help="default: RACCORDO_BENCH_REDIS_URL or redis://127.0.0.1:6379/0 (nats: RACCORDO_BENCH_NATS_URL or nats://127.0.0.1:4222)",
    )
    parser.add_argument(
        "--assigned-rate",
        type=float,
        default=100.0,
        help="fanout part: messages per second in assigned conversations (default 100)",
    )
    parser.add_argument(
        "--list-rate",
        type=float,
        default=20.0,
        help="fanout part: new unassigned conversations per second (default 20)",
    )
    parser.add_argument(
        "--fanout-seconds",
        type=float,
        default=10.0,
        help="fanout part: measured seconds per scenario and server (default 10; plus 10%% warm-up)",
    )
    parser.add_argument(
        "--compare-src",
        default=None,
        help="fanout part: also measure the server of another checkout's src directory (e.g. main's), before this one",
    )
    parser.add_argument(
        "--compression",
        choices=("deflate", "none"),
        default="deflate",
        help="permessage-deflate on the sockets, as browsers negotiate it (default deflate)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="seconds a message may take to reach every socket before it counts as missing (default 30)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=900.0,
        help="seconds the whole run may take before the bench gives up (default 900)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RACCORDO_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="admin URL; the bench creates and drops its own database (env RACCORDO_BENCH_POSTGRES_URL)",
    )
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=ROOT / "bench" / "results",
        help="where realtime-<backend>.json goes (default bench/results)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep the SQLite database and the process logs here (default: a temporary directory, removed)",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=None,
        help="run each server process under cProfile and write <name>.prof here when it stops (slows them down)",
    )
    parser.add_argument("--child", choices=("serve", "worker", "raw"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-max-seconds", type=float, default=960.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is None:
        for name in ("sockets", "messages", "scale_messages", "concurrency", "rounds"):
            if getattr(args, name) < 1:
                parser.error(f"--{name.replace('_', '-')} must be at least 1")
        if args.users is not None and args.users < 1:
            parser.error("--users must be at least 1")
        if args.rate <= 0 or args.time_limit <= 0 or args.drain_timeout <= 0:
            parser.error("--rate, --time-limit and --drain-timeout must be positive")
        if args.warmup is None:
            args.warmup = min(50, max(5, args.messages // 10))
        if args.warmup < 0:
            parser.error("--warmup must be 0 or more")
        if args.bus_url is None:
            args.bus_url = os.environ.get(BUS_URL_ENV[args.bus], DEFAULT_BUS_URLS[args.bus])
    return args


def interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        child_main(args.child, args.child_port, args.parent_pid or os.getppid(), args.child_max_seconds)
        return 0
    # SIGTERM ends the bench like Ctrl-C: the finally blocks stop the children and drop the database.
    signal.signal(signal.SIGTERM, interrupted)
    temporary = args.data_dir is None
    data_root = Path(tempfile.mkdtemp(prefix="raccordo-bench-rt-")) if temporary else args.data_dir.resolve()
    data_root.mkdir(parents=True, exist_ok=True)
    try:
        result = run_bench(args, data_root)
        args.results_dir.mkdir(parents=True, exist_ok=True)
        out = args.results_dir / f"realtime-{args.backend}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print_result(result)
        print(f"written: {out}")
        sys.stdout.flush()
        problems = result["verification"]["problems"]
        if problems:
            print("\nbench failed: verification failed: " + "; ".join(problems), file=sys.stderr)
            return 1
    except BenchError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbench interrupted", file=sys.stderr)
        return 1
    finally:
        if temporary:
            shutil.rmtree(data_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
