"""bench/realtime.py runs end to end with tiny numbers: both parts, real processes, real sockets.

Never a timing assertion: only that the bench exits 0, prints the latency percentiles and the
scale-out factor, and that its own check against the database found every expected
WebSocket delivery, exactly once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.bench, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "realtime.py"
SOCKETS, MESSAGES, WARMUP = 20, 20, 2
# The same choice of databases as the rest of the suite (conftest.py); PostgreSQL when it is among them.
BACKENDS = [b.strip() for b in os.environ.get("RACCORDO_TEST_DATABASES", "sqlite,postgresql").split(",") if b.strip()]
POSTGRES_URL = os.environ.get("RACCORDO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("RACCORDO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
START = {
    "postgresql": (
        "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        " (or set RACCORDO_TEST_POSTGRES_URL)"
    ),
    "redis": "start it with: redis-server --daemonize yes (or set RACCORDO_TEST_REDIS_URL)",
}


def _require(kind: str, url: str, default_port: int) -> None:
    """A server the bench needs must be running: fail (never skip) with how to start it."""
    parts = urlsplit(url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=1.0):
            return
    except OSError as exc:
        pytest.fail(f"{kind} at {url} is not reachable ({exc}); {START[kind]}", pytrace=False)


def test_bench_realtime_smoke(tmp_path: Path) -> None:
    backend = "postgresql" if "postgresql" in BACKENDS else BACKENDS[0]
    if backend == "postgresql":
        _require("postgresql", POSTGRES_URL, 5432)
    _require("redis", REDIS_URL, 6379)
    env = dict(os.environ)
    env["RACCORDO_BENCH_POSTGRES_URL"] = POSTGRES_URL
    env["RACCORDO_BENCH_REDIS_URL"] = REDIS_URL
    command = [
        sys.executable,
        str(BENCH),
        "--backend",
        backend,
        "--part",
        "both",
        "--bus",
        "redis",
        "--sockets",
        str(SOCKETS),
        "--users",
        "4",
        "--messages",
        str(MESSAGES),
        "--rate",
        "10",
        "--warmup",
        str(WARMUP),
        "--scale-messages",
        str(MESSAGES),
        "--concurrency",
        "2",
        "--rounds",
        "1",
        "--drain-timeout",
        "20",
        "--time-limit",
        "100",
        "--results-dir",
        str(tmp_path / "results"),
        "--data-dir",
        str(tmp_path / "data"),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, f"bench exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"

    number = r"\d+\.\d+"
    assert re.search(
        rf"^latency p50/p99 first socket = {number}/{number} ms, all sockets = {number}/{number} ms$",
        done.stdout,
        re.MULTILINE,
    ), done.stdout
    assert re.search(rf"^scale-out factor two/one = {number} ", done.stdout, re.MULTILINE), done.stdout

    result = json.loads((tmp_path / "results" / f"realtime-{backend}.json").read_text())
    facts = result["verification"]
    posted = (WARMUP + MESSAGES) + 2 * (
        WARMUP + MESSAGES
    )  # latency part; scale-out: one and two, each with its warm-up
    assert (
        facts["messages_posted"] == facts["inbound_messages_in_db"] == facts["message_created_events_in_db"] == posted
    )
    # Every message is in an unassigned conversation: the rule makes it visible to every agent socket.
    assert facts["expected_deliveries"] == posted * SOCKETS
    assert facts["received_deliveries"] == facts["expected_deliveries"]
    assert result["missing_deliveries"] == facts["missing_deliveries"] == 0
    assert facts["duplicate_deliveries"] == facts["unexpected_deliveries"] == facts["out_of_order_events"] == 0
    assert facts["problems"] == []
    assert result["latency"]["complete_messages"] == MESSAGES
    assert result["scale_out"]["one"]["messages"] == result["scale_out"]["two"]["messages"] == MESSAGES
    assert result["scale_out"]["factor"] > 0


def test_bench_realtime_fanout_smoke(tmp_path: Path) -> None:
    """The fan-out part with its raw baseline and this checkout's server compared with itself
    (``--compare-src src``): every event reached exactly the sockets the rule allows, once."""
    backend = "postgresql" if "postgresql" in BACKENDS else BACKENDS[0]
    if backend == "postgresql":
        _require("postgresql", POSTGRES_URL, 5432)
    _require("redis", REDIS_URL, 6379)
    env = {**os.environ, "RACCORDO_BENCH_POSTGRES_URL": POSTGRES_URL, "RACCORDO_BENCH_REDIS_URL": REDIS_URL}
    command = [
        sys.executable,
        str(BENCH),
        "--backend",
        backend,
        "--part",
        "fanout",
        "--sockets",
        str(SOCKETS),
        "--users",
        "4",
        "--assigned-rate",
        "20",
        "--list-rate",
        "10",
        "--fanout-seconds",
        "1",
        "--compare-src",
        str(ROOT / "src"),
        "--drain-timeout",
        "20",
        "--time-limit",
        "120",
        "--results-dir",
        str(tmp_path / "results"),
        "--data-dir",
        str(tmp_path / "data"),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"bench exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert re.search(
        r"^ratio raccordo/raw deliveries per server CPU second, list: \d+\.\d+$", done.stdout, re.MULTILINE
    ), done.stdout
    result = json.loads((tmp_path / "results" / f"realtime-{backend}.json").read_text())
    assert set(result["fanout"]) == {"raw", "before", "raccordo"}
    for server in result["fanout"].values():
        assigned, listed = server["assigned"], server["list"]
        assert assigned["sockets_per_message"] == [SOCKETS // 4] and listed["sockets_per_message"] == [SOCKETS]
        for row in (assigned, listed):
            assert row["complete"] == row["messages"] and row["deliveries"] == row["expected"] > 0
            assert row["missing"] == row["duplicates"] == row["unexpected"] == 0
    assert result["verification"]["problems"] == []
