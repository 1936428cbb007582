"""bench/email_ingest.py runs end to end with a tiny mailbox: real Dovecot, both paths, every message stored.

Never a timing assertion: only that the bench exits 0, prints a ratio for each backend, and
that its own verification (messages, processed raw payloads, nothing left unseen) holds.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "email_ingest.py"
MESSAGES = 25
BACKENDS = [b.strip() for b in os.environ.get("RACCORDO_TEST_DATABASES", "sqlite,postgresql").split(",") if b.strip()]


def test_bench_email_ingest_smoke(tmp_path: Path) -> None:
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
        "--batch",
        "10",
        "--time-limit",
        "120",
        "--results-dir",
        str(tmp_path),
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, f"bench exited {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    expected = ["sqlite", "postgresql"] if backend == "both" else [backend]
    for name in expected:
        assert re.search(rf"^{name}: ratio ours/baseline = \d+\.\d+ ", done.stdout, re.MULTILINE), done.stdout
        result = json.loads((tmp_path / f"email-ingest-{name}.json").read_text())
        facts = result["verification"]
        assert result["ok"] and result["ratio"] > 0
        assert (
            facts["fetched"]
            == facts["messages_in_db"]
            == facts["distinct_message_ids"]
            == facts["raw_inbound_processed"]
            == MESSAGES
        )
        assert facts["left_unseen"] == 0 and facts["failed"] == 0
        assert 0 < facts["conversations"] < MESSAGES, "replies join their customers' conversations"
