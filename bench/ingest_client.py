"""The ingest bench's client: signed requests with a fixed number in flight (closed loop), and the figures
of the phases it measured."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bench._support import BenchError, ChildProcess, percentile


@dataclass
class PhaseResult:
    path: str
    requests: int
    seconds: float
    latencies: list[float]
    server_cpu_seconds: float | None
    responses: list[dict[str, Any]] = field(default_factory=list)


async def run_phase(
    client: Any,
    path: str,
    requests: list[tuple[str, bytes, str]],
    concurrency: int,
    deadline: float,
    server: ChildProcess,
) -> PhaseResult:
    """Send every (url path, body, HMAC secret) request with at most `concurrency` in flight (closed loop)."""
    from raccordo.channels import signing

    latencies = [0.0] * len(requests)
    responses: list[dict[str, Any]] = [{} for _ in requests]
    pending = iter(range(len(requests)))

    async def worker() -> None:
        for index in pending:  # shared iterator: each request is sent exactly once
            if time.monotonic() > deadline:
                raise BenchError(f"time limit reached during the {path} phase (see --time-limit)")
            url, body, secret = requests[index]
            headers = {"Content-Type": "application/json", **signing.sign(secret, body)}
            started = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            latencies[index] = time.perf_counter() - started
            if response.status_code != 200:
                raise BenchError(f"{path} request {index} answered HTTP {response.status_code}: {response.text[:500]}")
            responses[index] = response.json()

    cpu_before = server.cpu()
    started = time.perf_counter()
    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
    elapsed = time.perf_counter() - started
    cpu_after = server.cpu()
    cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return PhaseResult(path, len(requests), elapsed, latencies, cpu, responses)


def summarize(phases: list[PhaseResult]) -> dict[str, Any]:
    requests = sum(p.requests for p in phases)
    seconds = sum(p.seconds for p in phases)
    latencies = [x for p in phases for x in p.latencies]
    cpu = [p.server_cpu_seconds for p in phases]
    server_cpu = sum(c for c in cpu if c is not None) if all(c is not None for c in cpu) else None
    return {
        "requests": requests,
        "seconds": round(seconds, 4),
        "msgs_per_s": round(requests / seconds, 2) if seconds else None,
        "p50_ms": round(percentile(latencies, 50) * 1000, 3),
        "p99_ms": round(percentile(latencies, 99) * 1000, 3),
        "mean_ms": round(sum(latencies) / len(latencies) * 1000, 3) if latencies else None,
        "max_ms": round(max(latencies) * 1000, 3) if latencies else None,
        "server_cpu_ms_per_msg": round(server_cpu / requests * 1000, 3)
        if server_cpu is not None and requests
        else None,
        "rounds_msgs_per_s": [round(p.requests / p.seconds, 2) for p in phases if p.seconds],
    }
