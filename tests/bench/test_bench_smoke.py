"""bench/ingest.py runs end to end with a tiny count: real HTTP, both paths, every message stored.

Never a timing assertion: only that the bench exits 0, prints a ratio for each backend, and
that what it posted is in the database (checked by the bench itself, reported in its JSON,
and for SQLite counted again here from the database file it leaves in --data-dir).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.databases import BACKENDS

pytestmark = [pytest.mark.bench, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "ingest.py"
MESSAGES, WARMUP = 160, 16
# Enough requests in flight that SQLite writers queue: with an unfair queue a customer's first
# message was stored after their later ones and made two contacts (seen at concurrency 8).
CONCURRENCY = 8


def test_bench_ingest_smoke(tmp_path: Path) -> None:
    env = dict(os.environ)
    if "RACCORDO_TEST_POSTGRES_URL" in env:
        env["RACCORDO_BENCH_POSTGRES_URL"] = env["RACCORDO_TEST_POSTGRES_URL"]
    backend = "both" if {"sqlite", "postgresql"} <= set(BACKENDS) else BACKENDS[0]
    command = [
        sys.executable,
        str(BENCH),
        "--backend",
        backend,
        "--messages",
        str(MESSAGES),
        "--concurrency",
        str(CONCURRENCY),
        "--warmup",
        str(WARMUP),
        "--rounds",
        "2",
        "--time-limit",
        "180",
        "--results-dir",
        str(tmp_path / "results"),
        "--data-dir",
        str(tmp_path / "data"),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, f"bench exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"

    expected = ["sqlite", "postgresql"] if backend == "both" else [backend]
    sent = MESSAGES + WARMUP
    for name in expected:
        assert re.search(rf"^{name}: ratio ours/baseline = \d+\.\d+ ", done.stdout, re.MULTILINE), done.stdout
        result = json.loads((tmp_path / "results" / f"ingest-{name}.json").read_text())
        assert result["ingest"]["requests"] == MESSAGES and result["baseline"]["requests"] == MESSAGES
        assert result["ratio"] > 0
        facts = result["verification"]
        assert facts["ingest_sent"] == sent
        assert facts["messages_in_db"] == sent
        assert facts["raw_inbound_processed"] == sent
        assert facts["distinct_message_ids_returned"] == sent
        assert facts["contacts_in_db"] == result["workload"]["new_contacts"] > 0
        assert facts["baseline_rows_in_db"] == facts["baseline_sent"] == sent

    if "sqlite" in expected:
        # An independent count from the database file the bench left behind.
        with sqlite3.connect(tmp_path / "data" / "sqlite" / "raccordo.db") as connection:
            stored = connection.execute("SELECT count(*) FROM messages WHERE direction = 'inbound'").fetchone()[0]
            ids = connection.execute(
                "SELECT count(DISTINCT provider_message_id) FROM messages WHERE provider_message_id LIKE 'bench-%'"
            ).fetchone()[0]
            baseline = connection.execute("SELECT count(*) FROM bench_baseline_rows").fetchone()[0]
        assert stored == ids == sent
        assert baseline == sent
