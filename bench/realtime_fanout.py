"""The fan-out part of bench/realtime.py (``--part fanout``): the cost of one event on 1,000 sockets.

The hub's side of the realtime path only (commit → bus wake-up → hub → every socket that
may see the event), without the ingest in front of it: the bench commits the events
itself, through the same event hooks the services use (``platform.events.emit``), from a
thread that keeps an open-loop schedule, and wakes the server over a Redis bus as a
second node would. Two scenarios, each on ``--sockets`` agent sockets (``--users`` agents):

- **assigned**: at ``--assigned-rate`` (default 100/s) a new customer message in a
  conversation assigned to one agent (``message.created`` with that agent's ``user_id``):
  the rule shows it to that agent's sockets only. Latency: until all of them have it.
- **list**: at ``--list-rate`` (default 20/s) a new unassigned conversation
  (``conversation.created`` + ``message.created`` in one commit): every agent sees both.
  Latency: until the ``message.created`` is on all sockets.

Each scenario runs against, in order: a **raw** baseline (a bare ``websockets`` server in a
child process broadcasting the same event JSON to the same sockets, one frame per event,
permessage-deflate as uvicorn negotiates it), then ``raccordo serve`` of ``--compare-src``
if given (e.g. the main branch's ``src``, for a before/after in one run), then this
checkout's ``raccordo serve``. The sockets connect with ``?batch=1`` (a server that does not
know it sends one frame per event; the reader handles both). Frames per second count
what the sockets received; *server CPU per 1,000 deliveries* and *frames per CPU second* come
from the server process's CPU time over the scenario, so they do not depend on how busy
the machine is as much as latencies do. The ratio printed is raccordo's deliveries per
CPU second over the raw server's, on the same events in the same run.

Verified: every event reaches exactly the sockets the rule says (``visible``), once each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

from bench._support import BenchError, cpu_seconds, percentile
from bench.realtime_fanout_sockets import Reader, Scenario, close_sockets, open_sockets, settle
from bench.realtime_processes import child_env
from bench.realtime_report import fmt

# --------------------------------------------------------------------------- event sources


def event_json(
    tenant_id: int, event_id: int, kind: str, conversation_id: int, user_id: int | None, mark: str | None
) -> str:
    """The JSON the hub sends for an event, for the raw server (same fields, similar size)."""
    payload: dict[str, Any] = {
        "id": event_id,
        "direction": "inbound",
        "sender_type": "contact",
        "text": "Buongiorno, il mio ordine non è ancora arrivato.",
        "status": "received",
    }
    if mark:
        payload["rt"] = mark
    return json.dumps(
        {
            "type": "event",
            "id": event_id,
            "tenant_id": tenant_id,
            "kind": kind,
            "conversation_id": conversation_id,
            "contact_id": conversation_id,
            "user_id": user_id,
            "team_id": None,
            "payload": payload,
            "created_at": "2026-01-01T00:00:00+00:00",
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


class Committer(threading.Thread):
    """Commits the scheduled events through the services' event hooks, in schedule order, and wakes
    the servers over the bus."""

    def __init__(self, rt: Any, bus_url: str, subject: str) -> None:
        super().__init__(daemon=True)
        import redis

        from raccordo.platform.events import wakeups

        self.rt = rt
        self.jobs: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self.error: BaseException | None = None
        client = redis.Redis.from_url(bus_url)
        rt.publisher = lambda events: [
            client.publish(subject, json.dumps({**m, "origin": "bench"})) for m in wakeups(events)
        ]

    def run(self) -> None:
        """Group commit: every job due so far in one transaction, as concurrent ingest requests
        would commit side by side; a source slower than the schedule would measure itself."""
        from raccordo.platform.events import emit
        from raccordo.platform.store.db import unit_of_work

        stop = False
        while not stop:
            jobs = [self.jobs.get()]
            while not self.jobs.empty():
                jobs.append(self.jobs.get_nowait())
            if jobs[-1] is None:
                stop = True
                jobs.pop()
            if not jobs:
                continue
            try:
                with unit_of_work(self.rt.sessions) as session:
                    for tenant_id, events, _ in jobs:
                        for kind, conversation_id, user_id, payload in events:
                            emit(
                                session,
                                tenant_id,
                                kind,
                                payload,
                                conversation_id=conversation_id,
                                contact_id=conversation_id,
                                user_id=user_id,
                            )
                now = time.perf_counter()
                for _, _, done in jobs:
                    done(now)
            except BaseException as exc:  # noqa: BLE001 - reported by the scenario
                self.error = exc
                return


# --------------------------------------------------------------------------- one target, both scenarios


async def run_target(name: str, target: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    """Connect the sockets to one server, run both scenarios on it, close."""
    args, setup, run_id = ctx["args"], ctx["setup"], ctx["run_id"]
    users = len(setup.agents)
    reader = Reader(run_id)
    sockets = await open_sockets(
        target["url_of"], args.sockets, users, ctx["compression"], reader, target["headers_of"]
    )
    socket_user = [i % users for i in range(args.sockets)]
    by_user: dict[int, list[int]] = {}
    for index, user in enumerate(socket_user):
        by_user.setdefault(user, []).append(index)
    out: dict[str, Any] = {"server": name}
    try:
        await settle(reader)
        for tag, rate in (("assigned", args.assigned_rate), ("list", args.list_rate)):
            n = max(1, int(rate * args.fanout_seconds))
            warm = max(1, n // 10)
            for phase, count in ((f"{name[:1]}{tag[:1]}w", warm), (f"{name[:1]}{tag[:1]}m", n)):
                if tag == "assigned":
                    recipients = [by_user[(k * 7) % users] for k in range(count)]
                else:
                    recipients = [list(range(args.sockets))] * count
                scenario = reader.scenarios[phase] = Scenario(phase, count, recipients)
                figures = await drive(scenario, tag, rate, target, ctx, reader, users)
            out[tag] = figures
    finally:
        await close_sockets(sockets)
    return out


async def drive(
    scenario: Scenario, tag: str, rate: float, target: dict[str, Any], ctx: dict[str, Any], reader: Reader, users: int
) -> dict[str, Any]:
    setup, run_id = ctx["setup"], ctx["run_id"]
    pid = target["pid"]
    cpu_before, frames_before, client_before = cpu_seconds(pid), reader.frames, time.process_time()
    start = time.perf_counter() + 0.05
    send = target["send"]
    next_id = ctx.setdefault("raw_ids", [10**9])
    for index in range(scenario.n):
        at = start + index / rate
        wait = at - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        scenario.scheduled[index] = at
        mark = f"{run_id}:{scenario.tag}:{index}"
        if tag == "assigned":
            agent = (index * 7) % users
            events = [("message.created", 10_000_000 + agent, setup.agents[agent][0], mark)]
        else:
            events = [
                ("conversation.created", 20_000_000 + index, None, None),
                ("message.created", 20_000_000 + index, None, mark),
            ]
        await send(events, next_id, scenario, index)
    limit = time.monotonic() + ctx["args"].drain_timeout
    while scenario.complete() < scenario.n and time.monotonic() < limit:
        if ctx.get("committer") is not None and ctx["committer"].error is not None:
            raise BenchError(f"committing events failed: {ctx['committer'].error!r}")
        await asyncio.sleep(0.01)
    done = [x for x in scenario.last if not math.isnan(x)]
    ended = max(done) if done else time.perf_counter()
    seconds = max(1e-6, ended - start)
    cpu_after, client_cpu = cpu_seconds(pid), time.process_time() - client_before
    cpu = (cpu_after - cpu_before) if cpu_after is not None and cpu_before is not None else None
    latencies = [e - s for e, s in zip(scenario.last, scenario.scheduled, strict=True) if not math.isnan(e)]
    after_commit = [
        e - c for e, c in zip(scenario.last, scenario.committed, strict=True) if not math.isnan(e) and not math.isnan(c)
    ]
    source_lag = [c - s for c, s in zip(scenario.committed, scenario.scheduled, strict=True) if not math.isnan(c)]
    deliveries = sum(scenario.count)
    frames = reader.frames - frames_before
    return {
        "sockets_closed_by_server": len(reader.closed),
        "first_close": reader.closed[0] if reader.closed else None,
        "messages": scenario.n,
        "rate": rate,
        "sockets_per_message": sorted(set(scenario.expected)),
        "complete": scenario.complete(),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99) * 1000, 2) if latencies else None,
        "max_ms": round(max(latencies) * 1000, 2) if latencies else None,
        "after_commit_p50_ms": round(percentile(after_commit, 50) * 1000, 2) if after_commit else None,
        "after_commit_p99_ms": round(percentile(after_commit, 99) * 1000, 2) if after_commit else None,
        "source_lag_p99_ms": round(percentile(source_lag, 99) * 1000, 2) if source_lag else None,
        "seconds": round(seconds, 3),
        "frames": frames,
        "frames_per_s": round(frames / seconds, 1),
        "deliveries": deliveries,
        "expected": sum(scenario.expected),
        "missing": sum(scenario.expected) - deliveries,
        "duplicates": scenario.duplicates,
        "unexpected": scenario.unexpected,
        "server_cpu_s": round(cpu, 3) if cpu is not None else None,
        "server_cpu_percent": round(cpu / seconds * 100, 1) if cpu is not None else None,
        "frames_per_cpu_s": round(frames / cpu, 0) if cpu else None,
        "client_cpu_percent": round(client_cpu / seconds * 100, 1),
        "deliveries_per_cpu_s": round(deliveries / cpu, 0) if cpu else None,
    }


# --------------------------------------------------------------------------- the part


async def fanout(ctx: dict[str, Any]) -> dict[str, Any]:
    args, setup, run = ctx["args"], ctx["setup"], ctx["run"]

    subject = f"raccordo.bench.{ctx['run_id']}"
    results: dict[str, Any] = {}

    # raw baseline
    raw = run.start("raw", "raw", dict(os.environ))
    await asyncio.to_thread(wait_port, raw.port)
    from websockets.asyncio.client import connect

    control = await connect(f"ws://127.0.0.1:{raw.port}/control", compression=None, proxy=None, ping_interval=None)

    async def raw_send(events: list[tuple[Any, ...]], next_id: list[int], scenario: Scenario, index: int) -> None:
        scenario.committed[index] = time.perf_counter()
        for kind, conversation_id, user_id, mark in events:
            next_id[0] += 1
            target = "*" if user_id is None else str(user_id)
            await control.send(
                f"{target} {event_json(setup.tenant_id, next_id[0], kind, conversation_id, user_id, mark)}"
            )

    try:
        results["raw"] = await run_target(
            "raw",
            {
                "url_of": lambda u: f"ws://127.0.0.1:{raw.port}/agents?user={setup.agents[u][0]}",
                "headers_of": lambda u: {},
                "pid": raw.process.pid,
                "send": raw_send,
            },
            ctx,
        )
    finally:
        await control.close()
        raw.stop()

    committer = ctx["committer"] = Committer(ctx["rt"], args.bus_url, subject)
    committer.start()

    async def commit_send(events: list[tuple[Any, ...]], next_id: list[int], scenario: Scenario, index: int) -> None:
        def done(at: float) -> None:
            scenario.committed[index] = at

        committer.jobs.put(
            (setup.tenant_id, [(kind, cid, uid, {"rt": mark} if mark else {}) for kind, cid, uid, mark in events], done)
        )

    servers = ([("before", str(Path(args.compare_src).resolve()))] if args.compare_src else []) + [("raccordo", None)]
    try:
        for name, src in servers:
            extra = {
                "RACCORDO_BUS_URL": args.bus_url,
                "RACCORDO_BUS_SUBJECT": subject,
                "RACCORDO_EMBEDDED_WORKER": "false",
            }
            if src:
                extra["PYTHONPATH"] = src
            server = run.start(f"serve-{name}", "serve", child_env(ctx["data_dir"], ctx["database_url"], **extra))
            try:
                ready = await asyncio.to_thread(server.wait_ready)
                if ready.get("bus") != "ok":
                    raise BenchError(f"{server.name} reports bus {ready.get('bus')!r}")
                results[name] = await run_target(
                    name,
                    {
                        "url_of": lambda u, s=server: f"{s.ws_url}?batch=1",
                        "headers_of": lambda u: {"Authorization": f"Bearer {setup.agents[u][1]}"},
                        "pid": server.process.pid,
                        "send": commit_send,
                    },
                    ctx,
                )
            finally:
                server.stop()
    finally:
        committer.jobs.put(None)
    return results


def wait_port(port: int, timeout: float = 30.0) -> None:
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return
        time.sleep(0.1)
    raise BenchError(f"the raw server did not listen on {port} within {timeout:.0f}s")


def problems(results: dict[str, Any]) -> list[str]:
    """Wrong deliveries fail any server; missing ones (not delivered within --drain-timeout)
    fail only this checkout's: a baseline that cannot keep up is a figure, not a defect here."""
    found = []
    for server, scenarios in results.items():
        for tag in ("assigned", "list"):
            row = scenarios[tag]
            for key in (
                ("missing", "duplicates", "unexpected") if server == "raccordo" else ("duplicates", "unexpected")
            ):
                if row[key]:
                    found.append(f"{server} {tag}: {row[key]} {key} deliveries")
            if server == "raccordo" and row.get("sockets_closed_by_server"):
                found.append(f"{server} {tag}: the server closed sockets (first: {row['first_close']})")
    return found


def print_fanout(results: dict[str, Any], sockets: int, users: int) -> None:
    print(
        f"fan-out: {sockets} agent sockets ({users} agents), events committed by the bench and announced "
        "on a Redis bus; one serve process, no embedded worker"
    )
    print(
        "latency from the scheduled time to the last socket that must have the event; "
        "'commit p99': from the commit instead (the source's own lag left out)"
    )
    print(
        f"{'scenario':<9} {'server':<9} {'msgs/s':>6} {'reach':>6} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'commit p99':>10} {'frames/s':>9} {'CPU %':>6} {'frames/CPU s':>13} {'deliv/CPU s':>12} "
        f"{'client CPU %':>12}  complete"
    )
    for tag in ("assigned", "list"):
        for server, scenarios in results.items():
            row = scenarios[tag]
            reach = "/".join(str(x) for x in row["sockets_per_message"])
            print(
                f"{tag:<9} {server:<9} {row['rate']:>6g} {reach:>6} {fmt(row['p50_ms']):>8} {fmt(row['p99_ms']):>8} "
                f"{fmt(row['after_commit_p99_ms']):>10} {fmt(row['frames_per_s'], '.0f'):>9} "
                f"{fmt(row['server_cpu_percent']):>6} {fmt(row['frames_per_cpu_s'], '.0f'):>13} "
                f"{fmt(row['deliveries_per_cpu_s'], '.0f'):>12} {fmt(row['client_cpu_percent']):>12}  "
                f"{row['complete']}/{row['messages']}"
            )
    raw = results.get("raw")
    for server in (s for s in results if s != "raw"):
        for tag in ("assigned", "list"):
            mine, base = results[server][tag], raw[tag] if raw else None
            if base and mine["deliveries_per_cpu_s"] and base["deliveries_per_cpu_s"]:
                print(
                    f"ratio {server}/raw deliveries per server CPU second, {tag}: "
                    f"{mine['deliveries_per_cpu_s'] / base['deliveries_per_cpu_s']:.2f}"
                )
    for server, scenarios in results.items():
        for tag in ("assigned", "list"):
            if server != "raccordo" and scenarios[tag]["missing"]:
                print(
                    f"note: {server} {tag} did not keep up: {scenarios[tag]['missing']} deliveries "
                    "still missing after --drain-timeout"
                )
    print("goals: assigned p99 < 50 ms at 100 msgs/s; list p99 < 250 ms at 20 msgs/s (1,000 sockets)")
