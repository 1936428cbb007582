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
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Importable once the repository root is on the path (the script runs as python bench/realtime.py).
from bench._support import BenchError, add_run_options  # noqa: E402
from bench.realtime_processes import child_main  # noqa: E402
from bench.realtime_report import print_result  # noqa: E402
from bench.realtime_run import run_bench  # noqa: E402

DEFAULT_BUS_URLS = {"redis": "redis://127.0.0.1:6379/0", "nats": "nats://127.0.0.1:4222"}
BUS_URL_ENV = {"redis": "RACCORDO_BENCH_REDIS_URL", "nats": "RACCORDO_BENCH_NATS_URL"}


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
    add_run_options(
        parser,
        time_limit_help="seconds the whole run may take before the bench gives up (default 900)",
        results_file="realtime-<backend>.json",
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
