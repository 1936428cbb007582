"""The realtime bench's load: signed inbound posts at a fixed rate (open loop) or with a fixed number in
flight (closed loop), and the CPU time of the processes meanwhile."""

from __future__ import annotations

import asyncio
import math
import os
import time
from pathlib import Path
from typing import Any

from bench._support import BenchError
from bench.realtime_processes import Child
from bench.realtime_setup import Setup, message_body
from bench.realtime_sockets import Phase, describe_dropped, dropped, gather_or_cancel

POST_TIMEOUT = 60.0


async def post(client: Any, phase: Phase, index: int, base_url: str, setup: Setup, body: bytes) -> None:
    from raccordo.channels import signing

    headers = {"Content-Type": "application/json", **signing.sign(setup.inbox_secret, body)}
    phase.started[index] = time.perf_counter()
    try:
        response = await client.post(base_url + setup.inbox_url, content=body, headers=headers, timeout=POST_TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        raise BenchError(f"{phase.tag} message {index}: POST failed: {type(exc).__name__}: {exc}") from None
    phase.answered[index] = time.perf_counter()
    if response.status_code != 200:
        raise BenchError(f"{phase.tag} message {index} answered HTTP {response.status_code}: {response.text[:500]}")
    ids = response.json().get("message_ids") or []
    phase.posted_message_id[index] = ids[0] if ids else None


def machine_cpu() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine, all cores, from /proc/stat (Linux), or None."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / ticks, sum(fields[:8]) / ticks


def cpu_snapshot(children: dict[str, Child]) -> dict[str, Any]:
    snapshot: dict[str, Any] = {name: child.cpu() for name, child in children.items()}
    snapshot["client"] = time.process_time()
    snapshot["machine"] = machine_cpu()
    return snapshot


def cpu_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float | None]:
    """CPU seconds per process; "machine" becomes the busy share of all cores, in percent."""
    delta: dict[str, float | None] = {}
    for key in before:
        if key == "machine":
            b, a = before[key], after[key]
            delta[key] = round((a[0] - b[0]) / (a[1] - b[1]) * 100, 1) if b and a and a[1] > b[1] else None
        else:
            delta[key] = (after[key] - before[key]) if before[key] is not None and after[key] is not None else None
    return delta


async def open_loop(
    client: Any,
    phase: Phase,
    rate: float,
    target: Child,
    setup: Setup,
    run_id: str,
    deadline: float,
    drain: float,
    children: dict[str, Child],
) -> None:
    """Post phase.n messages at ``rate`` per second on schedule (open loop), then wait for their delivery."""
    cpu_before = cpu_snapshot(children)
    frames_before = sum(s.frames for s in phase.sockets)
    start = time.perf_counter() + 0.05
    phase.began = start
    tasks: list[asyncio.Task[None]] = []
    try:
        for index in range(phase.n):
            at = start + index / rate
            wait = at - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            if time.monotonic() > deadline:
                raise BenchError(f"time limit reached while posting the {phase.tag} messages (see --time-limit)")
            for task in tasks:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            phase.scheduled[index] = at
            tasks.append(
                asyncio.create_task(
                    post(client, phase, index, target.base_url, setup, message_body(run_id, phase.tag, index))
                )
            )
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    # Drain: wait (bounded) until every message reached every socket, or stop waiting.
    limit = min(deadline, time.monotonic() + drain)
    while phase.complete() < phase.n and time.monotonic() < limit and not dropped(phase.sockets):
        await asyncio.sleep(0.02)
    done = [x for x in phase.last if not math.isnan(x)]
    phase.ended = max(done) if done else time.perf_counter()
    phase.cpu = cpu_delta(cpu_before, cpu_snapshot(children))
    phase.frames = sum(s.frames for s in phase.sockets) - frames_before


async def closed_loop(
    client: Any,
    phase: Phase,
    concurrency: int,
    targets: list[Child],
    setup: Setup,
    run_id: str,
    deadline: float,
    delivery_timeout: float,
    children: dict[str, Child],
) -> None:
    """``concurrency`` workers: post a message (to the targets in turn), wait until it reached every
    socket, post the next."""
    pending = iter(range(phase.n))  # shared: each message is posted once

    async def worker() -> None:
        for index in pending:
            if time.monotonic() > deadline:
                raise BenchError(f"time limit reached during the {phase.tag} messages (see --time-limit)")
            reached = phase.waiter(index)
            phase.scheduled[index] = time.perf_counter()
            await post(
                client,
                phase,
                index,
                targets[index % len(targets)].base_url,
                setup,
                message_body(run_id, phase.tag, index),
            )
            try:
                await asyncio.wait_for(reached.wait(), max(0.1, min(delivery_timeout, deadline - time.monotonic())))
            except TimeoutError:
                lost = dropped(phase.sockets)
                why = f"; {describe_dropped(phase.sockets)}" if lost else ""
                must = phase.expected[index]
                raise BenchError(
                    f"{phase.tag} message {index} reached {phase.count[index]} of {'?' if must is None else must} "
                    f"sockets within {delivery_timeout:.0f}s{why}"
                ) from None

    cpu_before = cpu_snapshot(children)
    frames_before = sum(s.frames for s in phase.sockets)
    phase.began = time.perf_counter()
    await gather_or_cancel([worker() for _ in range(max(1, min(concurrency, phase.n)))])
    phase.ended = time.perf_counter()
    phase.cpu = cpu_delta(cpu_before, cpu_snapshot(children))
    phase.frames = sum(s.frames for s in phase.sockets) - frames_before
