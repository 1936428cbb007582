"""The realtime bench's figures (percentiles, CPU shares) and the lines it prints."""

from __future__ import annotations

import math
import os
from typing import Any

from bench._support import percentile
from bench.realtime_sockets import Phase


def ms(values: list[float], p: float) -> float | None:
    values = [v for v in values if not math.isnan(v)]
    return round(percentile(values, p) * 1000, 2) if values else None


def latency_figures(phase: Phase) -> dict[str, Any]:
    def series(ends: list[float]) -> list[float]:
        return [e - s for e, s in zip(ends, phase.scheduled, strict=True) if not math.isnan(e) and not math.isnan(s)]

    post_, first, all_ = series(phase.answered), series(phase.first), series(phase.last)
    lag = series(phase.started)
    seconds = phase.ended - phase.began if not math.isnan(phase.ended) else float("nan")

    def stats(values: list[float]) -> dict[str, Any]:
        return {
            "count": len(values),
            "p50_ms": ms(values, 50),
            "p99_ms": ms(values, 99),
            "mean_ms": round(sum(values) / len(values) * 1000, 2) if values else None,
            "max_ms": round(max(values) * 1000, 2) if values else None,
        }

    return {
        "messages": phase.n,
        "sockets": len(phase.sockets),
        "sockets_per_message": sorted({e for e in phase.expected if e is not None}),
        "post_answered": stats(post_),
        "first_socket": stats(first),
        "all_sockets": stats(all_),
        "send_lag_p99_ms": ms(lag, 99),
        "send_lag_max_ms": round(max(lag) * 1000, 2) if lag else None,
        "complete_messages": phase.complete(),
        "seconds": round(seconds, 3),
        "frames_received": phase.frames,
        "frames_per_s": round(phase.frames / seconds, 1) if seconds and seconds > 0 else None,
        "cpu_percent": cpu_percent(phase.cpu, seconds),
    }


def cpu_percent(cpu: dict[str, float | None], seconds: float) -> dict[str, float | None]:
    """CPU time of each process over the phase as a percentage of one core; "machine": busy % of all cores."""
    return {
        k: v if k == "machine" else (round(v / seconds * 100, 1) if v is not None and seconds and seconds > 0 else None)
        for k, v in cpu.items()
    }


def fmt(value: Any, spec: str = ".1f") -> str:
    return "n/a" if value is None else format(value, spec)


def print_result(result: dict[str, Any]) -> None:
    print(f"\n== realtime on {result['backend']} ({result['environment']['database']}), run {result['run_id']}")
    lat = result.get("latency")
    if lat:
        print(
            f"latency: {lat['processes']}, {lat['sockets']} agent sockets ({lat['users']} agents), "
            f"{lat['messages']} messages at {lat['rate_msgs_per_s']:g} msgs/s open loop (+{lat['warmup']} warm-up)"
        )
        print(f"{'from the scheduled send to':<34} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}")
        per = lat["sockets_per_message"]
        reach = (str(per[0]) if len(per) == 1 else f"{per[0]}..{per[-1]}") if per else "?"
        for label, key in (
            ("the POST answered", "post_answered"),
            ("message.created on first socket", "first_socket"),
            (f"message.created on all {reach} sockets", "all_sockets"),
        ):
            row = lat[key]
            print(
                f"{label:<34} {fmt(row['p50_ms']):>8} {fmt(row['p99_ms']):>8} "
                f"{fmt(row['mean_ms']):>8} {fmt(row['max_ms']):>8}"
            )
        cpu = lat["cpu_percent"]
        print(
            f"{lat['complete_messages']}/{lat['messages']} messages reached every socket; "
            f"{fmt(lat['frames_per_s'], '.0f')} frames/s received; "
            f"CPU % of one core: serve {fmt(cpu.get('serve'))}, client {fmt(cpu.get('client'))}; "
            f"machine busy {fmt(cpu.get('machine'))}% of {os.cpu_count()} cores; "
            f"send lag p99 {fmt(lat['send_lag_p99_ms'])} ms"
        )
        print(
            f"latency p50/p99 first socket = {fmt(lat['first_socket']['p50_ms'])}/"
            f"{fmt(lat['first_socket']['p99_ms'])} ms, all sockets = {fmt(lat['all_sockets']['p50_ms'])}/"
            f"{fmt(lat['all_sockets']['p99_ms'])} ms"
        )
    scale = result.get("scale_out")
    if scale:
        print(
            f"\nscale-out: {scale['bus']} bus, 1 worker process, {scale['sockets']} sockets, "
            f"closed loop with {scale['concurrency']} in flight, "
            f"{scale['messages_per_round']} messages per round (+{scale['warmup']} warm-up per layout), "
            f"rounds {' '.join(scale['order'])}"
        )
        print(
            f"{'config':<7} {'serves':>6} {'msgs':>6} {'seconds':>8} {'msgs/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
            f"{'frames/s':>9} {'machine':>8}  CPU % of one core: serve a / serve b / worker / client"
        )
        for name in ("one", "two"):
            row = scale[name]
            cpu = row["cpu_percent"]
            print(
                f"{name:<7} {row['serve_processes']:>6} {row['messages']:>6} {row['seconds']:>8.2f} "
                f"{row['msgs_per_s']:>8.1f} {fmt(row['all_sockets_p50_ms']):>8} "
                f"{fmt(row['all_sockets_p99_ms']):>8} {fmt(row['frames_per_s'], '.0f'):>9} "
                f"{fmt(cpu.get('machine')) + '%':>8}  {fmt(cpu.get('serve_a'))} / {fmt(cpu.get('serve_b'))} / "
                f"{fmt(cpu.get('worker'))} / {fmt(cpu.get('client'))}"
            )
        print(
            f"scale-out factor two/one = {scale['factor']:.2f} (two {scale['two']['msgs_per_s']:.1f} msgs/s / "
            f"one {scale['one']['msgs_per_s']:.1f} msgs/s)"
        )
        if result["backend"] == "sqlite":
            print(
                "note: on SQLite both processes share one database file and its single writer; "
                "the documented scale-out runs on PostgreSQL"
            )
    if result.get("fanout"):
        from bench.realtime_fanout import print_fanout

        print_fanout(result["fanout"], result["options"]["sockets"], result["options"]["users"])
        v = result["verification"]
        print(
            f"verified: {v['missing_deliveries']} deliveries missing on this checkout's server; "
            + ("; ".join(v["problems"]) or "every event delivered reached exactly the sockets the rule allows, once")
        )
        return
    v = result["verification"]
    print(
        f"verified: {v['inbound_messages_in_db']} inbound messages and {v['message_created_events_in_db']} "
        f"message.created events stored for {v['messages_posted']} posted; "
        f"deliveries {v['received_deliveries']}/{v['expected_deliveries']} expected, "
        f"{v['missing_deliveries']} missing, {v['duplicate_deliveries']} duplicate, "
        f"{v['unexpected_deliveries']} unexpected, {v['out_of_order_events']} out of order"
    )
