"""bench/routing.py runs with a small workload: both paths make the same decisions (checked by
the bench, which exits 1 otherwise) and it prints the ratio. Never a timing assertion."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parents[2]


def test_bench_routing_smoke(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "routing.py"),
            "--agents",
            "120",
            "--items",
            "600",
            "--queues",
            "5",
            "--results-dir",
            str(tmp_path),
            "--time-limit",
            "120",
        ],
        capture_output=True,
        text=True,
        timeout=200,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^ratio indexed/baseline = \d+\.\d ", done.stdout, re.MULTILINE), done.stdout
    result = json.loads((tmp_path / "routing.json").read_text())
    assert result["indexed"]["decisions"] == result["baseline"]["decisions"] == 600
    assert 0 < result["indexed"]["assigned"] == result["baseline"]["assigned"] <= 600
