"""The realtime bench's child processes: ``raccordo serve`` / ``raccordo worker`` (or the fan-out part's
bare websockets server) started as ``python bench/realtime.py --child KIND``, with a watchdog and an
optional cProfile dump."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench._support import ROOT, BenchError, ChildProcess, free_port, start_watchdog
from bench._support import child_env as bench_child_env

# The command line a child runs: the bench's entry script, which dispatches --child to child_main.
ENTRY_SCRIPT = ROOT / "bench" / "realtime.py"


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit: 1,000 sockets on each side need more than the usual 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


PROFILE_ENV = "RACCORDO_BENCH_PROFILE"  # a child writes its cProfile statistics to this file when it stops


def child_main(kind: str, port: int, parent_pid: int, max_seconds: float) -> None:
    """A child process: the real ``raccordo serve`` (or ``raccordo worker``) command, with a watchdog."""

    raise_nofile()
    start_watchdog(parent_pid, max_seconds)
    if kind == "raw":  # the fan-out part's baseline: a bare websockets server
        from bench.realtime_fanout_sockets import raw_server

        asyncio.run(raw_server(port, os.environ.get("RACCORDO_BENCH_RAW_DEFLATE") == "1"))
        return
    from raccordo.cli import app

    argv = ["serve", "--host", "127.0.0.1", "--port", str(port)] if kind == "serve" else ["worker"]
    profile = os.environ.get(PROFILE_ENV)
    if not profile:
        app(argv, prog_name="raccordo")
        return
    import cProfile

    # --profile-dir: where the server's time goes (cProfile slows it down: read the shares, not the latencies).
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        app(argv, prog_name="raccordo")
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


class Child(ChildProcess):
    """``raccordo serve`` or ``raccordo worker`` in a child process, its output in a log file."""

    def __init__(self, name: str, kind: str, env: dict[str, str], log_path: Path, max_seconds: float) -> None:
        self.name = name
        self.kind = kind
        self.port = free_port() if kind in ("serve", "raw") else 0
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        args = [
            "--child",
            kind,
            "--child-port",
            str(self.port),
            "--parent-pid",
            str(os.getpid()),
            "--child-max-seconds",
            str(int(max_seconds)),
        ]
        super().__init__(ENTRY_SCRIPT, args, env, log_path)

    def wait_ready(self, timeout: float = 60.0) -> dict[str, Any]:
        """serve: /readyz answers 200 (database and bus reachable); worker: still running after a moment."""
        import httpx

        deadline = time.monotonic() + timeout
        if self.kind == "worker":
            time.sleep(1.0)
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.process.returncode} at start")
            return {}
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.process.returncode} before it was ready")
            try:
                response = httpx.get(f"{self.base_url}/readyz", timeout=2.0, trust_env=False)
                if response.status_code == 200:
                    return dict(response.json())
                last = response.text[:300]
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}"
            time.sleep(0.1)
        raise BenchError(f"{self.name} was not ready on {self.base_url} within {timeout:.0f}s (last answer: {last})")


def child_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    # The bench has migrated the database before it starts any child.
    return bench_child_env(data_dir, database_url, RACCORDO_AUTO_MIGRATE="false", **extra)


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1.0):
            return True
    except OSError:
        return False
