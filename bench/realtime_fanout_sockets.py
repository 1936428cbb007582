"""Both ends of the fan-out part's WebSockets: the bare baseline server (its raw deflate broadcast), and
the bench's agent sockets that read, count and time the marked event frames."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from typing import Any

from bench._support import BenchError
from bench.realtime_sockets import PING, PING_EVERY, SETTLE_QUIET

MARK_RE = re.compile(r'"rt":"([0-9a-f]+):(\w+):(\d+)"')


# --------------------------------------------------------------------------- the raw baseline server


async def raw_server(port: int, compression: bool) -> None:
    """A bare websockets server: ``/control`` lines "<user|*> <text>" are broadcast as they are."""
    from websockets.asyncio.server import broadcast, serve
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

    by_user: dict[str, set[Any]] = {}
    everyone: set[Any] = set()

    async def handler(ws: Any) -> None:
        path = ws.request.path
        if path.startswith("/control"):
            async for text in ws:
                target, _, frame = text.partition(" ")
                broadcast(everyone if target == "*" else by_user.get(target, ()), frame)
            return
        user = path.partition("user=")[2].partition("&")[0]
        by_user.setdefault(user, set()).add(ws)
        everyone.add(ws)
        try:
            await ws.send(json.dumps({"type": "hello", "user_id": int(user), "last_event_id": 0}))
            async for text in ws:
                if '"ping"' in text:
                    await ws.send('{"type":"pong"}')
        finally:
            everyone.discard(ws)
            by_user[user].discard(ws)

    extensions = (
        [
            ServerPerMessageDeflateFactory(
                server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5}
            )
        ]
        if compression
        else []
    )
    async with serve(
        handler, "127.0.0.1", port, compression=None, extensions=extensions, ping_interval=None, max_queue=64
    ):
        await asyncio.Future()


# --------------------------------------------------------------------------- sockets and tracking


class Scenario:
    def __init__(self, tag: str, n: int, recipients: list[list[int]]) -> None:
        self.tag = tag
        self.n = n
        self.recipients = recipients  # per message: the socket indexes that must get it
        self.expected = [len(r) for r in recipients]
        self.count = [0] * n
        nan = float("nan")
        self.scheduled = [nan] * n
        self.last = [nan] * n
        self.committed = [nan] * n  # when the event source had it committed (raw: sent to the server)
        self.got: dict[int, bytearray] = {}  # socket -> per message: times received
        self.duplicates = self.unexpected = 0
        self.must = [set(r) for r in recipients]

    def complete(self) -> int:
        return sum(1 for c, e in zip(self.count, self.expected, strict=True) if c >= e)


class Reader:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.scenarios: dict[str, Scenario] = {}
        self.frames = 0
        self.event_frames = 0
        self.closed: list[str] = []  # sockets the server closed: "<socket> <code> <reason>"

    def on_frame(self, sock: int, raw: str, now: float) -> None:
        self.frames += 1
        if '"rt":"' not in raw:
            return
        self.event_frames += 1
        for match in MARK_RE.finditer(raw):
            run, tag, index = match.group(1), match.group(2), int(match.group(3))
            scenario = self.scenarios.get(tag) if run == self.run_id else None
            if scenario is None or index >= scenario.n:
                continue
            row = scenario.got.setdefault(sock, bytearray(scenario.n))
            if row[index]:
                scenario.duplicates += 1
                continue
            row[index] = 1
            if sock not in scenario.must[index]:
                scenario.unexpected += 1
                continue
            scenario.count[index] += 1
            if scenario.count[index] == scenario.expected[index]:
                scenario.last[index] = now


async def open_sockets(
    url_of: Any, count: int, users: int, compression: str | None, reader: Reader, headers_of: Any
) -> list[Any]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    semaphore = asyncio.Semaphore(16)
    sockets: list[Any] = [None] * count

    async def read(index: int, ws: Any) -> None:
        clock = time.perf_counter
        try:
            async for raw in ws:
                if isinstance(raw, str):
                    reader.on_frame(index, raw, clock())
        except ConnectionClosed as closed:
            if closed.rcvd is not None and closed.rcvd.code != 1000:  # the server closed it (1000: our own close)
                reader.closed.append(f"{index} {closed.rcvd.code} {closed.rcvd.reason}")

    async def ping(ws: Any) -> None:
        # The app-level ping a browser tab sends: the server drops a socket silent for 70 s.
        await asyncio.sleep(random.uniform(0, PING_EVERY))
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.send(PING)
                await asyncio.sleep(PING_EVERY)

    async def one(index: int) -> None:
        async with semaphore:
            ws = await connect(
                url_of(index % users),
                additional_headers=headers_of(index % users),
                compression=compression,
                proxy=None,
                open_timeout=30,
                ping_interval=None,
                close_timeout=5,
                max_queue=4096,
            )
            hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if hello.get("type") != "hello":
                raise BenchError(f"socket {index}: expected hello, got {str(hello)[:200]}")
            sockets[index] = (ws, asyncio.create_task(read(index, ws)), asyncio.create_task(ping(ws)))

    await asyncio.gather(*(one(i) for i in range(count)))
    return sockets


async def close_sockets(sockets: list[Any]) -> None:
    async def one(pair: Any) -> None:
        if pair is None:
            return
        ws, task, pinging = pair
        pinging.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 10)
        for one_task in (task, pinging):
            one_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await one_task

    await asyncio.gather(*(one(p) for p in sockets))


async def settle(reader: Reader, limit: float = 60.0) -> None:
    """Until no frame arrived for SETTLE_QUIET s: the presence events of the connections are out."""
    end = time.monotonic() + limit
    last, changed = -1, time.monotonic()
    while time.monotonic() < end:
        if reader.frames != last:
            last, changed = reader.frames, time.monotonic()
        elif time.monotonic() - changed >= SETTLE_QUIET:
            return
        await asyncio.sleep(0.1)
