"""bench/desktop.py runs with tiny sizes on both databases: every measured request answers as
expected (the bench exits 1 otherwise), each line prints its percentiles and a PASS/FAIL verdict,
and the added conversations are searchable. Never a timing assertion."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.databases import BACKENDS

# The bench loads the 500-conversation demo on each database before measuring: on the shared 2-core machine
# that alone passed the suite's 300 s pytest-timeout; the budget is the bench run's own (900 s, below).
pytestmark = [pytest.mark.bench, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]


def test_bench_desktop_smoke(tmp_path: Path) -> None:
    backend = "both" if len(BACKENDS) > 1 else BACKENDS[0]
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "desktop.py"),
            "--backend",
            backend,
            "--conversations",
            "60",
            "--samples",
            "3",
            "--explain",
            "--results-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^send a reply +3 +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +(PASS|FAIL)$", done.stdout, re.MULTILINE), (
        done.stdout
    )
    assert re.search(r"^plan: view=teams", done.stdout, re.MULTILINE), done.stdout
    result = json.loads((tmp_path / "desktop.json").read_text())
    assert [b["backend"] for b in result["backends"]] == (["sqlite", "postgresql"] if backend == "both" else [backend])
    for run in result["backends"]:
        assert run["added"]["total"] == run["demo_conversations"] + 60
        assert run["added"]["search_entries"] > run["added"]["total"]  # subjects, messages, contacts
        names = {line["name"] for line in run["large"]}
        assert {
            "search: common word (supervisor)",
            "list: teams (agent)",
            "list: all, queue",
            "open conversation (page)",
            "add a note",
        } <= names
        assert all(line["verdict"] in ("PASS", "FAIL", "-") and line["n"] == 3 for line in run["demo"] + run["large"])
