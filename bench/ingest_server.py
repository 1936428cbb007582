"""The ingest bench's server: the real application plus the bench-only baseline route, under uvicorn in a
child process started as ``python bench/ingest.py --serve-child PORT``."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# At module level: FastAPI resolves the baseline handler's (string) annotations in these globals.
from fastapi import Request

from bench._support import ROOT, BenchError, ChildProcess, free_port, start_watchdog

BENCH_TABLE = "bench_baseline_rows"
BASELINE_PATH = "/bench/baseline"

# The command line the child runs: the bench's entry script, which dispatches --serve-child to serve_child.
ENTRY_SCRIPT = ROOT / "bench" / "ingest.py"


def baseline_table(metadata: Any) -> Any:
    from sqlalchemy import Column, DateTime, Integer, LargeBinary, Table

    return Table(
        BENCH_TABLE,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("received_at", DateTime(timezone=True), nullable=False),
        Column("body", LargeBinary, nullable=False),
    )


def add_baseline_route(app: Any, rt: Any) -> None:
    """The bare baseline on the same app: read the body, insert one row in one transaction, answer JSON.

    Same shape as the channel route (async handler, the database work in the thread pool,
    the app's own session factory and engine), none of the ingest work.
    """
    from sqlalchemy import MetaData, insert
    from starlette.concurrency import run_in_threadpool

    from raccordo.platform.store.db import unit_of_work

    table = baseline_table(MetaData())

    def insert_row(body: bytes) -> int:
        with unit_of_work(rt.sessions) as session:
            return int(
                session.execute(
                    insert(table).values(received_at=datetime.now(UTC), body=body).returning(table.c.id)
                ).scalar_one()
            )

    @app.post(BASELINE_PATH, include_in_schema=False)
    async def baseline(request: Request) -> dict[str, int]:
        body = await request.body()
        return {"id": await run_in_threadpool(insert_row, body)}


def serve_child(port: int, parent_pid: int, max_seconds: float) -> None:
    """Entry point of the server process: the real app plus the baseline route, under uvicorn."""
    import uvicorn

    from raccordo.bootstrap.http import create_app
    from raccordo.platform.config import Settings
    from raccordo.platform.runtime import Runtime

    start_watchdog(parent_pid, max_seconds)
    rt = Runtime.build(Settings())  # RACCORDO_* from the environment the bench set
    app = create_app(rt)
    add_baseline_route(app, rt)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    rt.close()


class Server(ChildProcess):
    """The application (with the baseline route) under uvicorn in a child process: this script, ``--serve-child``."""

    def __init__(self, env: dict[str, str], log_path: Path, max_seconds: float) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        args = [
            "--serve-child",
            str(self.port),
            "--parent-pid",
            str(os.getpid()),
            "--server-max-seconds",
            str(int(max_seconds)),
        ]
        super().__init__(ENTRY_SCRIPT, args, env, log_path)

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"the server exited with {self.process.returncode} before it was ready")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise BenchError(f"the server was not ready on {self.base_url} within {timeout:.0f}s")
