#!/usr/bin/env python3
"""Ingest throughput: the whole API-channel ingest path against a bare one-row insert, over real HTTP.

For each backend (SQLite, PostgreSQL) the bench:

1. creates a fresh database (a temporary SQLite file; a ``raccordo_bench_*`` PostgreSQL
   database, dropped at the end), migrates it, and creates a tenant with an owner token
   and a ``bench_baseline_rows`` table;
2. starts the real application (``raccordo.bootstrap.http.create_app``) under uvicorn in a child
   process on 127.0.0.1 and a free port, with one bench-only route added to that same app:
   ``POST /bench/baseline`` stores the request body as one row of the bench table, in one
   transaction on the app's own session factory;
3. creates two API-channel inboxes over the REST API, then sends signed inbound messages
   with httpx (asyncio, N requests in flight): new contacts, returning contacts written in
   other formats, identities that link automatically (the same number on WhatsApp), and
   cross-channel messages on the second inbox; the baseline gets the same bodies;
4. warms both paths up, then measures them in alternating rounds, and reports msgs/s,
   p50/p99 latency and the ratio ingest/baseline;
5. checks that the database holds exactly the messages, raw payloads, contacts and
   baseline rows it sent, and fails otherwise.

Everything goes to 127.0.0.1; every loop is bounded in count and in time. Run
``python bench/ingest.py --help`` for the options; bench/README.md explains the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
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
from bench.ingest_client import PhaseResult, run_phase, summarize  # noqa: E402
from bench.ingest_server import BASELINE_PATH, Server, baseline_table, serve_child  # noqa: E402
from bench.ingest_workload import Workload, build_workload  # noqa: E402

# --------------------------------------------------------------------------- one backend


def setup_tenant(rt: Any, run_id: str) -> tuple[int, str]:
    """A tenant with an owner user and API token, created through the services."""
    from raccordo.platform.store.db import unit_of_work

    with unit_of_work(rt.sessions) as session:
        tenant, _, token = create_tenant_with_owner(session, run_id)
        return tenant.id, token


def verify(
    rt: Any, tenant_id: int, workload: Workload, ingest_phases: list[PhaseResult], baseline_sent: int
) -> dict[str, Any]:
    """The database must hold exactly what was sent; raises BenchError otherwise."""
    from sqlalchemy import MetaData, func, select

    from raccordo.channels.models import RawInbound
    from raccordo.record.domain.messages import TimelineKind
    from raccordo.record.models import Contact, Conversation, Message, TimelineEvent

    sent = sum(p.requests for p in ingest_phases)
    returned_ids = {mid for p in ingest_phases for r in p.responses for mid in r.get("message_ids", [])}
    duplicates = sum(int(r.get("duplicates", 0)) for p in ingest_phases for r in p.responses)
    table = baseline_table(MetaData())
    with rt.engine.connect() as connection:

        def count(statement: Any) -> int:
            return int(connection.execute(statement).scalar_one())

        facts = {
            "ingest_sent": sent,
            "messages_in_db": count(
                select(func.count())
                .select_from(Message)
                .where(Message.tenant_id == tenant_id, Message.direction == "inbound")
            ),
            "distinct_message_ids_returned": len(returned_ids),
            "duplicates_reported": duplicates,
            "raw_inbound_in_db": count(
                select(func.count()).select_from(RawInbound).where(RawInbound.tenant_id == tenant_id)
            ),
            "raw_inbound_processed": count(
                select(func.count())
                .select_from(RawInbound)
                .where(RawInbound.tenant_id == tenant_id, RawInbound.status == "processed")
            ),
            "contacts_planned": workload.new_contacts,
            "contacts_in_db": count(
                select(func.count())
                .select_from(Contact)
                .where(Contact.tenant_id == tenant_id, Contact.merged_into_id.is_(None))
            ),
            "conversations_in_db": count(
                select(func.count()).select_from(Conversation).where(Conversation.tenant_id == tenant_id)
            ),
            "channel_switch_events": count(
                select(func.count())
                .select_from(TimelineEvent)
                .where(TimelineEvent.tenant_id == tenant_id, TimelineEvent.kind == TimelineKind.CHANNEL_SWITCH.value)
            ),
            "baseline_sent": baseline_sent,
            "baseline_rows_in_db": count(select(func.count()).select_from(table)),
        }
    problems = []
    if facts["messages_in_db"] != sent:
        problems.append(f"{facts['messages_in_db']} inbound messages stored for {sent} sent")
    if facts["distinct_message_ids_returned"] != sent or duplicates:
        problems.append(
            f"{facts['distinct_message_ids_returned']} distinct message ids and {duplicates} duplicates"
            f" answered for {sent} distinct messages sent"
        )
    if facts["raw_inbound_in_db"] != sent or facts["raw_inbound_processed"] != sent:
        problems.append(
            f"{facts['raw_inbound_in_db']} raw payloads ({facts['raw_inbound_processed']} processed) for {sent} sent"
        )
    if facts["contacts_in_db"] != workload.new_contacts:
        problems.append(
            f"{facts['contacts_in_db']} contacts stored for {workload.new_contacts} distinct customers sent"
        )
    if facts["baseline_rows_in_db"] != baseline_sent:
        problems.append(f"{facts['baseline_rows_in_db']} baseline rows stored for {baseline_sent} sent")
    if problems:
        raise BenchError("verification failed: " + "; ".join(problems))
    return facts


def run_backend(backend: str, args: argparse.Namespace, data_root: Path) -> dict[str, Any]:
    import httpx
    from sqlalchemy import MetaData

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
        metadata = MetaData()
        baseline_table(metadata)
        metadata.create_all(rt.engine)
        versions = server_versions(rt)

        server = Server(child_env(data_dir, database.url), data_dir / "server.log", max_seconds=args.time_limit + 60)
        server.wait_ready()

        warmup = args.warmup if args.warmup is not None else min(200, max(10, args.messages // 10))
        workload = build_workload(warmup + args.messages, args.concurrency, args.seed, run_id)
        inboxes: list[tuple[str, str]] = []
        with httpx.Client(base_url=server.base_url, timeout=30.0) as setup_client:
            for name in ("API storefront", "API mobile app"):
                response = setup_client.post(
                    "/api/v1/inboxes",
                    json={"name": name, "channel": "api", "settings": {}},
                    headers={"Authorization": f"Bearer {token}"},
                )
                if response.status_code != 201:
                    raise BenchError(
                        f"creating an API inbox answered HTTP {response.status_code}: {response.text[:500]}"
                    )
                body = response.json()
                inboxes.append((f"/api/v1/channels/api/{body['identifier']}/messages", body["secrets"]["hmac_secret"]))
        ingest_requests = [(inboxes[box][0], body, inboxes[box][1]) for box, body in workload.bodies]
        # The baseline receives the same bodies, signed the same way: equal client and HTTP cost.
        baseline_requests = [(BASELINE_PATH, body, inboxes[box][1]) for box, body in workload.bodies]

        async def measure() -> tuple[list[PhaseResult], list[PhaseResult], list[PhaseResult]]:
            limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
            async with httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=30.0) as client:
                warm = [
                    await run_phase(client, "baseline", baseline_requests[:warmup], args.concurrency, deadline, server),
                    await run_phase(client, "ingest", ingest_requests[:warmup], args.concurrency, deadline, server),
                ]
                ours: list[PhaseResult] = []
                bare: list[PhaseResult] = []
                # Alternate the two paths in rounds so drift (database growth, other load) hits both.
                rounds = max(1, min(args.rounds, args.messages))
                bounds = [warmup + args.messages * r // rounds for r in range(rounds + 1)]
                for r in range(rounds):
                    chunk = slice(bounds[r], bounds[r + 1])
                    order = ("baseline", "ingest") if r % 2 == 0 else ("ingest", "baseline")
                    for path in order:
                        if path == "ingest":
                            ours.append(
                                await run_phase(
                                    client, "ingest", ingest_requests[chunk], args.concurrency, deadline, server
                                )
                            )
                        else:
                            bare.append(
                                await run_phase(
                                    client, "baseline", baseline_requests[chunk], args.concurrency, deadline, server
                                )
                            )
                return warm, ours, bare

        warm, ours, bare = asyncio.run(measure())
        server.stop()
        facts = verify(
            rt, tenant_id, workload, [warm[1], *ours], baseline_sent=warm[0].requests + sum(p.requests for p in bare)
        )
        ingest, baseline = summarize(ours), summarize(bare)
        ratio = (
            ingest["msgs_per_s"] / baseline["msgs_per_s"] if ingest["msgs_per_s"] and baseline["msgs_per_s"] else None
        )
        return {
            "backend": backend,
            "started_at": started_at.isoformat(timespec="seconds"),
            "options": {
                "messages": args.messages,
                "concurrency": args.concurrency,
                "warmup": warmup,
                "rounds": max(1, min(args.rounds, args.messages)),
                "seed": args.seed,
            },
            "ingest": ingest,
            "baseline": baseline,
            "ratio": round(ratio, 4) if ratio is not None else None,
            "workload": {k: v for k, v in asdict(workload).items() if k != "bodies"} | {"inboxes": 2},
            "verification": facts,
            "environment": {
                **versions,
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpu_count": os.cpu_count(),
                "server": (
                    "uvicorn (asyncio, h11 unless uvloop/httptools are installed), 1 worker process, access log off"
                ),
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
    o, b = result["ingest"], result["baseline"]
    opts = result["options"]
    print(
        f"\n== {result['backend']} ({result['environment']['database']}) — {opts['messages']} messages per path"
        f" (+{opts['warmup']} warm-up), concurrency {opts['concurrency']}, {opts['rounds']} rounds"
    )
    print(
        f"{'path':<10} {'requests':>8} {'seconds':>8} {'msgs/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'server CPU ms/msg':>18}"
    )
    for name, row in (("ingest", o), ("baseline", b)):
        cpu = f"{row['server_cpu_ms_per_msg']:.2f}" if row["server_cpu_ms_per_msg"] is not None else "n/a"
        print(
            f"{name:<10} {row['requests']:>8} {row['seconds']:>8.2f} {row['msgs_per_s']:>9.1f}"
            f" {row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} {cpu:>18}"
        )
    print(
        f"{result['backend']}: ratio ours/baseline = {result['ratio']:.3f}"
        f" (ingest {o['msgs_per_s']:.1f} msgs/s / baseline {b['msgs_per_s']:.1f} msgs/s)"
    )
    v, w = result["verification"], result["workload"]
    print(
        f"verified: {v['messages_in_db']} inbound messages and {v['raw_inbound_processed']} processed raw payloads"
        f" stored for {v['ingest_sent']} sent; "
        f"{v['contacts_in_db']} contacts for {w['new_contacts']} distinct customers;"
        f" {v['conversations_in_db']} conversations; "
        f"{v['channel_switch_events']} channel switches;"
        f" {v['baseline_rows_in_db']} baseline rows for {v['baseline_sent']} sent"
    )


def print_summary(results: list[dict[str, Any]]) -> None:
    print("\n== summary (msgs/s; latency in ms)")
    print(
        f"{'backend':<11} {'ingest/s':>9} {'p50':>7} {'p99':>7} {'baseline/s':>11} {'p50':>7} {'p99':>7} {'ratio':>7}"
    )
    for r in results:
        o, b = r["ingest"], r["baseline"]
        print(
            f"{r['backend']:<11} {o['msgs_per_s']:>9.1f} {o['p50_ms']:>7.1f} {o['p99_ms']:>7.1f}"
            f" {b['msgs_per_s']:>11.1f} {b['p50_ms']:>7.1f} {b['p99_ms']:>7.1f} {r['ratio']:>7.3f}"
        )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Messages per second through the whole API-channel ingest path,"
            " against a bare one-row insert on the same database."
        )
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--messages", type=int, default=2000, help="measured messages per path (default 2000)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="warm-up messages per path, not measured (default: 10%% of --messages, 10..200)",
    )
    parser.add_argument("--rounds", type=int, default=4, help="alternating measured rounds per path (default 4)")
    parser.add_argument("--seed", type=int, default=1, help="workload seed (default 1)")
    add_run_options(
        parser,
        time_limit_help="seconds one backend may take before the bench gives up (default 900)",
        results_file="ingest-<backend>.json",
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
    parser.add_argument("--serve-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--server-max-seconds", type=float, default=960.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_child is None:
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
    if args.serve_child is not None:
        serve_child(args.serve_child, args.parent_pid or os.getppid(), args.server_max_seconds)
        return 0
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    temporary = args.data_dir is None
    data_root = Path(tempfile.mkdtemp(prefix="raccordo-bench-")) if temporary else args.data_dir.resolve()
    data_root.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for backend in backends:
            result = run_backend(backend, args, data_root)
            args.results_dir.mkdir(parents=True, exist_ok=True)
            out = args.results_dir / f"ingest-{backend}.json"
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
