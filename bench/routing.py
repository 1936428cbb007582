#!/usr/bin/env python3
"""Routing decisions: the indexed board against a full scan of every agent, on the same workload.

Builds one tenant's worth of routing state in memory (default: 2,000 agents with mixed
skills, queues, channels and loads; 10,000 waiting conversations with priorities,
required skills, waits and preferred agents), then serves the waiting conversations in
priority order twice, from identical copies:

- ``indexed``: ``RoutingBoard.decide`` (agents indexed per queue and channel, sorted by
  the strategy's order, early exit);
- ``baseline``: ``RoutingBoard.decide_by_full_scan`` (every agent checked against every
  rule for every decision), the naive algorithm.

Each decision (choose an agent or none, then take its capacity) is timed on its own. The
bench prints decisions per second, p50/p99/max latency and the ratio indexed/baseline,
and fails if the two runs did not make exactly the same decisions. Everything is in one
process and deterministic for a seed; nothing touches the network or a database (the
database part of a routing pass is measured by tests/routing/test_routing_stress.py, with the load
of tests/support/routing_load.py, not here). Run ``python bench/routing.py --help``; bench/README.md
explains the output.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from raccordo.routing.domain.board import RoutingBoard  # noqa: E402 - after the path
from raccordo.routing.domain.routing import (  # noqa: E402 - after the path
    STRATEGIES,
    AgentState,
    QueuePolicy,
    RelaxStep,
    WaitingItem,
    item_order_key,
)

SKILLS = [
    "italiano",
    "english",
    "deutsch",
    "fatturazione",
    "tecnico",
    "resi",
    "vip",
    "mobile",
    "fibra",
    "assicurazioni",
]
CHANNELS = ["chat", "email", "voice", "whatsapp", "sms"]


def build(
    agents: int, items: int, queues: int, seed: int, strategy: str | None
) -> tuple[list[AgentState], list[WaitingItem], dict[int, QueuePolicy], float]:
    rng = random.Random(seed)
    now = 1_800_000_000.0
    policies = {}
    for queue_id in range(1, queues + 1):
        policies[queue_id] = QueuePolicy(
            queue_id,
            strategy or STRATEGIES[(queue_id - 1) % len(STRATEGIES)],
            ageing_per_minute=rng.choice([0.0, 0.5, 1.0]),
            ageing_cap=rng.choice([0.0, 2.0, 5.0]),
            relax=rng.choice([(), (RelaxStep(60, 1),), (RelaxStep(30, 1), RelaxStep(120, None))]),
            preferred_agent_seconds=rng.choice([0.0, 60.0]),
        )
    population = []
    for agent_id in range(1, agents + 1):
        member_of = frozenset(rng.sample(range(1, queues + 1), k=rng.randint(1, min(3, queues))))
        skills = {skill: rng.randint(1, 5) for skill in rng.sample(SKILLS, k=rng.randint(1, 4))}
        capacity = {
            "chat": rng.randint(1, 4),
            "email": rng.randint(2, 6),
            "voice": 1,
            "whatsapp": rng.randint(1, 4),
            "sms": rng.randint(1, 3),
        }
        load = {channel: rng.randint(0, limit // 2) for channel, limit in capacity.items() if channel != "voice"}
        population.append(
            AgentState(
                agent_id,
                rng.random() < 0.8,
                member_of,
                skills,
                capacity,
                frozenset({"voice"}),
                load,
                now - rng.uniform(0, 3600),
            )
        )
    waiting = []
    for item_id in range(1, items + 1):
        required = {skill: rng.randint(1, 4) for skill in rng.sample(SKILLS, k=rng.choice([0, 1, 1, 2]))}
        preferred = rng.randint(1, agents) if rng.random() < 0.1 else None
        waiting.append(
            WaitingItem(
                item_id,
                rng.randint(1, queues),
                rng.choice(CHANNELS),
                rng.choice([0, 0, 0, 1, 2, 3]),
                required,
                now - rng.uniform(0, 600),
                {},
                preferred,
            )
        )
    return population, waiting, policies, now


def run(
    kind: str,
    agents: list[AgentState],
    items: list[WaitingItem],
    policies: dict[int, QueuePolicy],
    now: float,
    time_limit: float,
) -> dict[str, Any]:
    started = time.perf_counter()
    board = RoutingBoard(copy.deepcopy(agents), policies)
    build_seconds = time.perf_counter() - started
    decide = board.decide if kind == "indexed" else board.decide_by_full_scan
    ordered = sorted(copy.deepcopy(items), key=lambda i: item_order_key(i, policies[i.queue_id], now))
    latencies: list[int] = []
    decisions: list[tuple[int, int | None]] = []
    deadline = started + time_limit
    for item in ordered:
        begin = time.perf_counter_ns()
        agent = decide(item, now)
        if agent is not None:
            board.take(agent, item, now)
        latencies.append(time.perf_counter_ns() - begin)
        decisions.append((item.id, agent.id if agent else None))
        if time.perf_counter() > deadline:
            raise SystemExit(f"{kind}: past --time-limit {time_limit} s after {len(decisions)} decisions")
    total = sum(latencies) / 1e9
    ordered_latencies = sorted(latencies)

    def pct(p: float) -> float:
        return (
            ordered_latencies[
                max(0, min(len(ordered_latencies) - 1, round(p / 100 * len(ordered_latencies) + 0.5) - 1))
            ]
            / 1e6
        )

    return {
        "kind": kind,
        "decisions": len(decisions),
        "assigned": sum(1 for _, a in decisions if a is not None),
        "seconds": total,
        "decisions_per_s": len(decisions) / total if total else float("inf"),
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "max_ms": ordered_latencies[-1] / 1e6,
        "board_build_ms": build_seconds * 1000,
        "_decisions": decisions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--items", type=int, default=10000, help="waiting conversations")
    parser.add_argument("--queues", type=int, default=12)
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        help="one strategy for every queue (default: the four, spread over the queues)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=600.0, help="seconds each run may take")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    agents, items, policies, now = build(args.agents, args.items, args.queues, args.seed, args.strategy)
    strategies = args.strategy or "mixed (" + ", ".join(STRATEGIES) + ")"
    print(
        f"== routing: {args.agents} agents ({sum(a.online for a in agents)} online), {args.items} waiting, "
        f"{args.queues} queues, strategies {strategies}, seed {args.seed}"
    )
    indexed = run("indexed", agents, items, policies, now, args.time_limit)
    baseline = run("baseline", agents, items, policies, now, args.time_limit)
    if indexed["_decisions"] != baseline["_decisions"]:
        first = next(
            i for i, (a, b) in enumerate(zip(indexed["_decisions"], baseline["_decisions"], strict=True)) if a != b
        )
        print(
            f"FAILED: the indexed board decided differently from the full scan at decision {first}: "
            f"{indexed['_decisions'][first]} vs {baseline['_decisions'][first]}",
            file=sys.stderr,
        )
        return 1
    print(
        f"{'path':<10}{'decisions':>10}{'assigned':>10}{'seconds':>10}{'decisions/s':>13}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    for result in (indexed, baseline):
        print(
            f"{result['kind']:<10}{result['decisions']:>10}{result['assigned']:>10}{result['seconds']:>10.2f}"
            f"{result['decisions_per_s']:>13.0f}{result['p50_ms']:>9.3f}{result['p99_ms']:>9.3f}{result['max_ms']:>9.3f}"
        )
    ratio = indexed["decisions_per_s"] / baseline["decisions_per_s"]
    print(
        f"ratio indexed/baseline = {ratio:.1f} ({indexed['decisions_per_s']:.0f} / "
        f"{baseline['decisions_per_s']:.0f} decisions/s); the same {indexed['decisions']} decisions in both runs"
    )
    args.results_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "agents": args.agents,
        "items": args.items,
        "queues": args.queues,
        "strategy": args.strategy or "mixed",
        "seed": args.seed,
        "ratio": ratio,
        "python": platform.python_version(),
        "indexed": {k: v for k, v in indexed.items() if not k.startswith("_")},
        "baseline": {k: v for k, v in baseline.items() if not k.startswith("_")},
    }
    (args.results_dir / "routing.json").write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
