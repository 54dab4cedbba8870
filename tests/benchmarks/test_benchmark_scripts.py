"""The benchmark scripts still run end to end, so the figures in docs/benchmarks.md can always be reproduced.

Speed is never asserted here (it is measured by the scripts, as docs/performance.md says, never
by timed tests); what is asserted is
that every push the benchmark compares, ours, the pandas + requests baseline and the minimal loop,
delivers exactly the valid rows to the sandbox, and that the report and its plot are written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ROWS = "3000"


def test_push_throughput_runs_every_implementation_and_writes_the_report(tmp_path):
    report = tmp_path / "benchmarks.md"
    run = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "push_throughput.py"),
            *("--rows", ROWS, "--baseline-rows", ROWS, "--floor-rows", ROWS, "--stages", ROWS),
            *("--out", str(report)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    text = report.read_text()
    for implementation in (
        "SqlToLinkedInCapiOperator",
        "pandas + requests baseline",
        "minimal loop, no validation",
    ):
        assert f"| {implementation} | 3,000 |" in text
    assert "events accepted by the sandbox == valid rows == distinct eventIds: yes" in text
    assert "fetch (SQLite fetchmany via the row source)" in text
    assert (tmp_path / "benchmarks.png").stat().st_size > 10_000


def test_push_in_flight_auto_runs_every_measurement_and_writes_its_section(tmp_path):
    report = tmp_path / "benchmarks.md"
    report.write_text("# Benchmarks\n\nkept as it is\n")
    run = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "benchmarks" / "push_in_flight.py"),
            "--auto",
            *("--rows", ROWS, "--latencies", "0.05"),
            *("--compare-rows", ROWS, "--compare-latencies", "0.05"),
            *("--budget-rows", ROWS, "--throttle-rows", ROWS, "--throttle-above", "2"),
            *("--out", str(report)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    text = report.read_text()
    assert text.startswith("# Benchmarks\n\nkept as it is\n")
    assert "<!-- auto-window benchmark: begin -->" in text
    assert "<!-- auto-window benchmark: end -->" in text
    for kind in ("auto", "compare", "budget", "throttle"):
        assert f"| {kind} | 3,000 |" in text
    assert "events accepted by the sandbox == valid rows == distinct eventIds: yes" in text
