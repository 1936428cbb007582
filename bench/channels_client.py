"""The channels bench's client: each channel's webhook requests with a fixed number in flight (closed loop),
built just before they are sent, and the figures of one phase (``bench.ingest_client.PhaseResult``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench._support import BenchError, ChildProcess
from bench.channels_cases import InboundCall
from bench.ingest_client import PhaseResult


async def run_phase(
    client: Any,
    channel: str,
    numbers: range,
    build: Callable[[int], InboundCall],
    concurrency: int,
    deadline: float,
    server: ChildProcess,
) -> tuple[PhaseResult, list[InboundCall]]:
    """Send message n of ``build`` for every n in ``numbers``, at most ``concurrency`` in flight.

    Returns the phase's figures (each response's JSON kept) and the requests sent, for verification."""
    count = len(numbers)
    latencies = [0.0] * count
    responses: list[dict[str, Any]] = [{} for _ in range(count)]
    calls: list[InboundCall | None] = [None] * count
    pending = iter(range(count))

    async def worker() -> None:
        for index in pending:  # shared iterator: each request is sent exactly once
            if time.monotonic() > deadline:
                raise BenchError(f"time limit reached during a {channel} phase (see --time-limit)")
            call = build(numbers[index])
            calls[index] = call
            started = time.perf_counter()
            response = await client.post(call.path, content=call.body, headers=call.headers)
            latencies[index] = time.perf_counter() - started
            if response.status_code != 200:
                raise BenchError(
                    f"{channel} message {numbers[index]} answered HTTP {response.status_code}: {response.text[:500]}"
                )
            # Twilio's TwiML answer is not JSON: kept empty (the database check counts its messages).
            json_answer = response.headers.get("content-type", "").startswith("application/json")
            responses[index] = response.json() if json_answer else {}

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
    sent = [call for call in calls if call is not None]
    return PhaseResult(channel, count, elapsed, latencies, cpu, responses), sent
