"""One realtime bench run: the processes, the latency part (one ``serve``), the scale-out part (two
against one) or the fan-out part, and the result it returns."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench._support import SECRET_KEY, BenchError, create_database, server_versions
from bench.realtime_load import closed_loop, open_loop
from bench.realtime_processes import PROFILE_ENV, Child, child_env, raise_nofile, reachable
from bench.realtime_report import cpu_percent, latency_figures, ms
from bench.realtime_setup import Setup, check_rule, setup_tenant
from bench.realtime_sockets import (
    Phase,
    Sock,
    Tracker,
    close_sockets,
    describe_dropped,
    dropped,
    open_sockets,
    pinger,
    settle,
)
from bench.realtime_verify import verify

HOW_TO_START = {
    "redis": "start it with: redis-server --daemonize yes (or set RACCORDO_BENCH_REDIS_URL / --bus-url)",
    "nats": "start it with: nats-server -a 127.0.0.1 -p 4222 & (or set RACCORDO_BENCH_NATS_URL / --bus-url)",
}


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
            tail = child.log_tail(2000)
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

        async def measure(client: Any, phase: Phase, targets: list[Child]) -> None:
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
                            await measure(client, self.new_phase(f"w{number}", args.warmup, sockets), targets)
                    phase = self.new_phase(f"s{number}", args.scale_messages, sockets)
                    await measure(client, phase, targets)
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
            from bench.realtime_fanout import fanout, problems

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
