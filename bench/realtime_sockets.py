"""The realtime bench's agent WebSockets: opening and closing them, reading their frames, pinging them,
and tracking when each marked ``message.created`` event reaches each socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from bench._support import BenchError
from bench.realtime_processes import Child
from bench.realtime_setup import MARK, Setup, subscriber

PING = '{"type":"ping"}'
PING_EVERY = (
    15.0  # seconds between a socket's pings; the server drops a socket silent for 3 heartbeats + 10 s (70 s by default)
)
CONNECT_CONCURRENCY = 16  # handshakes in flight while opening the sockets
CONNECT_TIMEOUT = 30.0  # one handshake (and its hello)
SETTLE_QUIET = 1.0  # no event frame for this long: the connection burst (presence events) is over
SETTLE_LIMIT = 120.0


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
