#!/usr/bin/env python3
"""Inbound webhooks per second per channel through the whole path, the API channel as the same-run baseline.

For each backend (SQLite, PostgreSQL) the bench:

1. creates a fresh database (a temporary SQLite file; a ``raccordo_bench_*`` PostgreSQL
   database, dropped at the end), migrates it, and creates a tenant with an owner token;
2. starts the real application under uvicorn in a child process on 127.0.0.1 and a free port
   (the ingest bench's server, ``bench/ingest_server.py``);
3. creates one inbox per channel over the REST API (``channels_cases.py``: the API channel, the
   baseline; WhatsApp, through the inbox's URL and the app-level URL; SMS through Twilio and
   Vonage; Telegram in webhook mode; Messenger; Instagram), then POSTs each
   channel's signed webhook requests to its webhook URL with httpx (asyncio, N requests in
   flight): one message per request, each from a new customer, so every channel does the same
   database work and the difference is the channel's own verification and parsing;
4. warms every channel up, then measures them in rounds, the order rotated each round so drift
   (database growth, other load) hits all, and reports msgs/s, p50/p99 latency, server CPU per
   message and each channel's ratio to the API channel (the issue asks for >= 0.8);
5. checks that the database holds, per channel, exactly one message, one processed raw payload
   and one contact with the right identity per request sent, and no raw payload left pending, and
   fails otherwise.

Adding a channel: one request builder in ``bench/channels_cases.py`` (its docstring says how).
Everything goes to 127.0.0.1; every loop is bounded in count and in time. Run
``python bench/channels.py --help`` for the options; bench/README.md explains the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._support import (  # noqa: E402 - importable once the repository root is on the path
    SECRET_KEY,
    BenchError,
    add_run_options,
    child_env,
    create_database,
    create_tenant_with_owner,
    server_versions,
)
from bench.channels_cases import BASELINE, CASES, BenchInbox, InboundCall  # noqa: E402
from bench.channels_client import run_phase  # noqa: E402
from bench.channels_verify import verify  # noqa: E402
from bench.ingest_client import PhaseResult, summarize  # noqa: E402
from bench.ingest_server import Server  # noqa: E402

RATIO_TARGET = 0.8

# --------------------------------------------------------------------------- one backend


def setup_tenant(rt: Any, run_id: str) -> tuple[int, str]:
    from raccordo.platform.store.db import unit_of_work

    with unit_of_work(rt.sessions) as session:
        tenant, _, token = create_tenant_with_owner(session, run_id)
        return tenant.id, token


def create_inbox(client: Any, token: str, name: str, run_id: str, slot: int, channels: int) -> tuple[int, BenchInbox]:
    """Case ``name``'s inbox, created over the REST API as an admin would: (inbox id, what the builder needs)."""
    case = CASES[name]
    settings, secrets = case.settings(run_id)
    response = client.post(
        "/api/v1/inboxes",
        json={"name": f"Bench {name}", "channel": case.kind, "settings": settings, "secrets": secrets},
        headers={"Authorization": f"Bearer {token}"},
    )
    if response.status_code != 201:
        raise BenchError(f"creating the {name} inbox answered HTTP {response.status_code}: {response.text[:500]}")
    body = response.json()
    shown = {**secrets, **body.get("secrets", {})}
    inbox = BenchInbox(case.kind, body["identifier"], run_id, str(client.base_url), settings, shown, slot, channels)
    return int(body["id"]), inbox


def provisioning_jobs(rt: Any, tenant_id: int) -> list[dict[str, Any]]:
    """The webhook registrations the inboxes scheduled (Telegram's setWebhook), to the closed port: each
    try is a refused connection, so they fail; listed to show how many tries ran beside the measurement."""
    from sqlalchemy import select

    from raccordo.platform.store.models import Job

    with rt.engine.connect() as connection:
        rows = connection.execute(
            select(Job.status, Job.attempts, Job.last_error).where(
                Job.tenant_id == tenant_id, Job.kind == "channels.provision"
            )
        ).all()
    return [{"status": s, "attempts": a, "last_error": (e or "")[:200]} for s, a, e in rows]


def round_bounds(start: int, count: int, rounds: int) -> list[range]:
    return [range(start + count * r // rounds, start + count * (r + 1) // rounds) for r in range(rounds)]


def run_backend(backend: str, channels: list[str], args: argparse.Namespace, data_root: Path) -> dict[str, Any]:
    import httpx

    from raccordo.platform.config import Settings
    from raccordo.platform.runtime import Runtime
    from raccordo.platform.store.migrate import upgrade

    started_at = datetime.now(UTC)
    deadline = time.monotonic() + args.time_limit
    data_dir = data_root / backend
    data_dir.mkdir(parents=True, exist_ok=True)
    database = create_database(backend, data_dir, args.postgres_url)
    rt = server = None
    try:
        upgrade(database.url)
        rt = Runtime.build(Settings(data_dir=data_dir, database_url=database.url, secret_key=SECRET_KEY))
        run_id = uuid.uuid4().hex[:8]
        tenant_id, token = setup_tenant(rt, run_id)
        versions = server_versions(rt)

        server = Server(child_env(data_dir, database.url), data_dir / "server.log", max_seconds=args.time_limit + 60)
        server.wait_ready()
        inbox_ids: dict[str, int] = {}
        inboxes: dict[str, BenchInbox] = {}
        with httpx.Client(base_url=server.base_url, timeout=30.0) as setup_client:
            for slot, kind in enumerate(channels):
                inbox_ids[kind], inboxes[kind] = create_inbox(setup_client, token, kind, run_id, slot, len(channels))

        warmup = args.warmup if args.warmup is not None else min(200, max(10, args.messages // 10))
        rounds = max(1, min(args.rounds, args.messages))
        builders = {kind: partial(CASES[kind].request, inboxes[kind]) for kind in channels}
        calls: dict[str, list[InboundCall]] = {kind: [] for kind in channels}
        warm: dict[str, PhaseResult] = {}
        measured: dict[str, list[PhaseResult]] = {kind: [] for kind in channels}

        async def measure() -> None:
            limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
            async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30.0) as client:

                async def phase(kind: str, numbers: range) -> PhaseResult:
                    result, sent = await run_phase(
                        client, kind, numbers, builders[kind], args.concurrency, deadline, server
                    )
                    calls[kind].extend(sent)
                    return result

                for kind in channels:
                    warm[kind] = await phase(kind, range(warmup))
                for r, numbers in enumerate(round_bounds(warmup, args.messages, rounds)):
                    for kind in channels[r % len(channels) :] + channels[: r % len(channels)]:
                        measured[kind].append(await phase(kind, numbers))

        asyncio.run(measure())
        server.stop()
        phases = {k: [warm[k], *measured[k]] for k in channels}
        facts = verify(rt, tenant_id, inbox_ids, calls, phases, {k: CASES[k].answers_ids for k in channels})
        facts["provisioning"] = provisioning_jobs(rt, tenant_id)
        figures = {kind: summarize(measured[kind]) for kind in channels}
        base = figures[BASELINE]["msgs_per_s"] if BASELINE in figures else None
        for name, row in figures.items():
            row["ratio"] = round(row["msgs_per_s"] / base, 4) if base and row["msgs_per_s"] else None
            # Each round measures every channel back to back: its ratios show how much the load moved.
            per_round = [
                ours.requests / ours.seconds / (api.requests / api.seconds)
                for ours, api in zip(measured[name], measured[BASELINE], strict=True)
                if ours.seconds and api.seconds
            ]
            row["ratio_rounds_median"] = round(statistics.median(per_round), 4) if per_round else None
            row["ratio_rounds_range"] = [round(min(per_round), 4), round(max(per_round), 4)] if per_round else None
        return {
            "backend": backend,
            "started_at": started_at.isoformat(timespec="seconds"),
            "options": {
                "channels": channels,
                "messages": args.messages,
                "concurrency": args.concurrency,
                "warmup": warmup,
                "rounds": rounds,
            },
            "channels": figures,
            "verification": facts,
            "environment": {
                **versions,
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpu_count": os.cpu_count(),
                "server": "uvicorn (asyncio), 1 worker process, access log off",
                "client": "httpx.AsyncClient in the bench process, same machine",
            },
        }
    except BenchError as exc:
        tail = server.log_tail() if server is not None else ""
        raise BenchError(
            f"{backend}: {exc}" + (f"\n--- server log (tail) ---\n{tail}" if tail.strip() else "")
        ) from None
    finally:
        if server is not None:
            server.stop()
        if rt is not None:
            rt.close()
        if database.drop is not None:
            database.drop()


# --------------------------------------------------------------------------- output


def print_backend(result: dict[str, Any]) -> None:
    opts = result["options"]
    print(
        f"\n== {result['backend']} ({result['environment']['database']}) — {opts['messages']} messages per channel"
        f" (+{opts['warmup']} warm-up), concurrency {opts['concurrency']}, {opts['rounds']} rounds"
    )
    print(
        f"{'channel':<13} {'requests':>8} {'seconds':>8} {'msgs/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'server CPU ms/msg':>18} {f'ratio to {BASELINE}':>13}"
    )
    for name, row in result["channels"].items():
        cpu = f"{row['server_cpu_ms_per_msg']:.2f}" if row["server_cpu_ms_per_msg"] is not None else "n/a"
        ratio = f"{row['ratio']:.3f}" if row["ratio"] is not None else "n/a"
        print(
            f"{name:<13} {row['requests']:>8} {row['seconds']:>8.2f} {row['msgs_per_s']:>9.1f}"
            f" {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} {cpu:>18} {ratio:>13}"
        )
    for name, row in result["channels"].items():
        if name != BASELINE and row["ratio"] is not None:
            verdict = "meets" if row["ratio"] >= RATIO_TARGET else "BELOW"
            low, high = row["ratio_rounds_range"]
            print(
                f"{result['backend']}: {name} ratio to {BASELINE} = {row['ratio']:.3f} ({verdict} {RATIO_TARGET});"
                f" per round: median {row['ratio_rounds_median']:.3f}, {low:.3f}..{high:.3f}"
            )
    v = result["verification"]
    per_channel = "; ".join(
        f"{name}: {v[name]['messages_in_db']} messages, {v[name]['raw_inbound_by_status'].get('processed', 0)}"
        f" processed raw payloads, {v[name]['contacts_of_inbox']} contacts for {v[name]['sent']} sent"
        for name in result["channels"]
    )
    t = v["tenant"]
    print(
        f"verified: {per_channel}; {t['contacts_in_db']} contacts in the tenant for {t['sent']} sent;"
        f" {t['raw_inbound_pending']} raw payloads pending"
    )
    for job in v.get("provisioning", []):
        print(f"provisioning job (setWebhook to a closed port): {job['status']} after {job['attempts']} tries")


def print_summary(results: list[dict[str, Any]]) -> None:
    print(f"\n== summary (msgs/s, server CPU ms/msg, ratio to {BASELINE})")
    for r in results:
        cells = "  ".join(
            f"{name} {row['msgs_per_s']:.1f}/s {row['server_cpu_ms_per_msg'] or float('nan'):.2f} ms"
            f" x{row['ratio'] or float('nan'):.3f}"
            for name, row in r["channels"].items()
        )
        print(f"{r['backend']:<11} {cells}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Inbound webhooks per second per channel, through the whole path, against the API channel."
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--channels",
        default=",".join(CASES),
        help=f"comma-separated channels, the baseline ({BASELINE}) always included (default: {','.join(CASES)})",
    )
    parser.add_argument("--messages", type=int, default=2000, help="measured messages per channel (default 2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="warm-up messages per channel, not measured (default: 10%% of --messages, 10..200)",
    )
    parser.add_argument(
        "--rounds", type=int, default=12, help="measured rounds per channel, the order rotated each round (default 12)"
    )
    add_run_options(
        parser,
        time_limit_help="seconds one backend may take before the bench gives up (default 900)",
        results_file="channels-<backend>.json",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=(
            "keep each backend's files here: DIR/sqlite/raccordo.db, DIR/<backend>/server.log"
            " (default: a temporary directory, removed)"
        ),
    )
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.channels.split(",") if name.strip()]
    unknown = [name for name in names if name not in CASES]
    if unknown:
        parser.error(f"unknown channel(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    args.channel_list = [BASELINE, *dict.fromkeys(n for n in names if n != BASELINE)]
    for name in ("messages", "concurrency", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.warmup is not None and args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    if args.time_limit <= 0:
        parser.error("--time-limit must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    temporary = args.data_dir is None
    data_root = Path(tempfile.mkdtemp(prefix="raccordo-bench-")) if temporary else args.data_dir.resolve()
    data_root.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for backend in backends:
            result = run_backend(backend, args.channel_list, args, data_root)
            args.results_dir.mkdir(parents=True, exist_ok=True)
            out = args.results_dir / f"channels-{backend}.json"
            out.write_text(json.dumps(result, indent=2) + "\n")
            print_backend(result)
            print(f"written: {out}")
            results.append(result)
            sys.stdout.flush()
    except BenchError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if temporary:
            shutil.rmtree(data_root, ignore_errors=True)
    if len(results) > 1:
        print_summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
