"""Measure how batches in flight hide LinkedIn's time per request, within the budget of 600 requests a minute.

What it does, in one run:

1. builds (or reuses, from ``benchmarks/out/``) SQLite files of realistic CRM rows (``generate_rows.py``);
2. starts the sandbox (``--store ids``) with LinkedIn's budget of 600 requests a minute per token, and the
   connection's ``requests_per_minute`` at the same 600, so that the pacing is part of what is measured;
3. **main:** pushes ``--rows`` rows (default 1M) with the sandbox taking 1 s per 5,000-event batch
   (0.5 s plus 0.1 ms per event), for each ``max_in_flight`` in ``--in-flight`` (default 1, 4, 10);
4. **sweep:** pushes ``--sweep-rows`` rows (default 200k) at 0, 100 ms, 300 ms, 1 s and 3 s per batch (half
   of it per request, half per event), for the same ``max_in_flight`` values;
5. **cpu:** pushes the main rows with no latency ``--cpu-repeats`` times (default 3) for each
   ``max_in_flight``, interleaved, and compares the medians of CPU per row: one run of a few seconds moves
   by several per cent on a shared machine, more than the 5% the target allows;
6. each push runs in a fresh child process (``_measure.py``), so CPU seconds and peak RSS are the push's own;
   after each, the sandbox must hold exactly the valid rows, once each;
7. prints the results and writes a table and a plot into ``docs/benchmarks.md`` (its "Batches in flight"
   section, between markers, so ``push_throughput.py`` keeps it) and ``docs/benchmarks-in-flight.png``.

With ``--auto`` it measures the default, ``max_in_flight="auto"`` (the operator given no
``max_in_flight``), against the targets of issue #22 instead, and writes the section "A window that sizes
itself":

- ``--rows`` (default 1M) at each of ``--latencies`` (default 0.5, 1 and 2 s per batch): wall time against
  the budget's floor (batches at ``requests_per_minute / 60`` a second), and peak RSS;
- ``--compare-rows`` (default 200k) at ``--compare-latencies`` (1 and 2 s): one batch at a time, the old
  fixed default of 4 and ``auto``, in the same session;
- ``--budget-rows`` (default 200k) in batches of 250 at 1 s per request: a push of more than a minute at
  the full budget, for the most requests the sandbox received in any minute;
- ``--throttle-rows`` (default 200k) at 1 s per batch against a sandbox that answers 429 above
  ``--throttle-above`` (default 6) events requests at once: ``auto`` and a fixed 16, with their 429s.

Run::

    .venv/bin/python benchmarks/push_in_flight.py --out docs/benchmarks.md
    .venv/bin/python benchmarks/push_in_flight.py --auto --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from generate_rows import GeneratedTable, ensure_rows  # noqa: E402
from push_throughput import RESULTS_DIR, machine_description, run_child  # noqa: E402

BUDGET_PER_MINUTE = 600
BATCH = 5_000
MAIN_LATENCY_S = 1.0
SWEEP_LATENCIES_S = (0.0, 0.1, 0.3, 1.0, 3.0)
#: Wall-time targets of the main measurement, by max_in_flight (1M rows, 1 s per batch).
TARGETS_S = {4: 60.0, 10: 26.0}
TARGET_PEAK_RSS_MB = 250
CPU_TOLERANCE = 0.05
SECTION_BEGIN = "<!-- in-flight benchmark: begin -->"
SECTION_END = "<!-- in-flight benchmark: end -->"

# --auto: the window that sizes itself (max_in_flight="auto", the default), against the budget's floor and
# a sequential push measured in the same run.
AUTO_SECTION_BEGIN = "<!-- auto-window benchmark: begin -->"
AUTO_SECTION_END = "<!-- auto-window benchmark: end -->"
AUTO_LATENCIES_S = (0.5, 1.0, 2.0)
COMPARE_LATENCIES_S = (1.0, 2.0)
#: Most wall time of the main rows, as a multiple of the budget's floor (batches / (budget / 60) seconds).
FLOOR_FACTOR = 1.3
#: Most wall time of the compared rows, as a fraction of the sequential push's (max_in_flight=1).
SEQUENTIAL_FRACTION = 0.15
#: The budget run sends small batches, so that a push lasts more than a minute at the full budget.
BUDGET_BATCH = 250
THROTTLE_ABOVE = 6
#: The sections push_throughput.py keeps when it rewrites docs/benchmarks.md.
KEPT_SECTIONS = ((SECTION_BEGIN, SECTION_END), (AUTO_SECTION_BEGIN, AUTO_SECTION_END))


@dataclass
class Run:
    kind: str  # "main", "sweep" or "cpu"; with --auto: "auto", "compare", "budget" or "throttle"
    rows: int
    valid_rows: int
    #: A fixed size, or "auto" (the default: the operator was given no max_in_flight).
    max_in_flight: int | str
    latency_s: float
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    events_accepted: int
    distinct_event_ids: int
    requests: int
    throttled: int
    most_at_once: int
    most_per_minute: int
    #: CPU seconds the sandbox (another process on the same 2 cores) spent on this push: its own validation
    #: and storage, which LinkedIn would do on its servers.
    sandbox_cpu_s: float = 0.0
    #: The machine's 1-minute load average when the push ended (2 cores: above 2, processes queue for CPU).
    load_1min: float = 0.0
    batch_size: int = BATCH
    #: The sandbox answered 429 above this many events requests at once (``None``: it did not).
    throttle_above: int | None = None
    #: The push's summary: ``in_flight_window`` and ``batch_seconds`` (``None`` before they existed).
    in_flight_window: dict | None = None
    batch_seconds: dict | None = None

    @property
    def cpu_us_per_row(self) -> float:
        return self.cpu_s / self.rows * 1e6

    @property
    def accepted_ok(self) -> bool:
        return self.events_accepted == self.valid_rows == self.distinct_event_ids


def budget_floor_s(rows: int) -> float:
    """The least wall time the budget allows: a burst of 10% of it, then the rest spread over the minute."""
    batches = -(-rows // BATCH)
    burst = BUDGET_PER_MINUTE // 10
    return max(0, batches - burst) / ((BUDGET_PER_MINUTE - burst) / 60.0)


def measure(
    sandbox: Any,
    conn: dict,
    table: GeneratedTable,
    kind: str,
    in_flight: int | str,
    latency: float,
    *,
    batch_size: int = BATCH,
    throttle_above: int | None = None,
) -> Run:
    """One push in a fresh process. ``in_flight="auto"`` gives the operator no ``max_in_flight`` at all (the
    default); ``throttle_above`` makes the sandbox answer 429 above that many events requests at once."""
    sandbox.admin.reset()
    # Half of the time per request, half per event: 0.5 s + 0.1 ms per event is 1 s per 5,000 events.
    sandbox.admin.configure(latency_ms=latency * 500, latency_us_per_event=latency * 1e6 / 2 / BATCH)
    if batch_size != BATCH:  # small batches (the budget run): the same time per request, whatever its size
        sandbox.admin.configure(latency_ms=latency * 1000, latency_us_per_event=0)
    if throttle_above is not None:
        sandbox.admin.set_faults(
            [{"kind": "429", "every": 1, "above": throttle_above, "path": "/rest/conversionEvents"}]
        )
    rule_id = str(sandbox.admin.create_rule(name=f"in flight {in_flight} {latency}")["id"])
    operator_kwargs: dict[str, Any] = {"batch_size": batch_size}
    if in_flight != "auto":
        operator_kwargs["max_in_flight"] = in_flight
    spec = {
        "impl": "ours",
        "db_path": str(table.path),
        "query": table.query,
        "conn": conn,
        "rule_id": rule_id,
        "profile": None,
        "operator_kwargs": operator_kwargs,
    }
    print(
        f"  {kind:8s} {table.rows:>9,} rows, {latency * 1000:5.0f} ms/request, "
        f"{in_flight!s:>4} in flight ...",
        end="",
    )
    sandbox_cpu = _process_cpu(sandbox)
    result = run_child(spec)
    sandbox_cpu = _process_cpu(sandbox) - sandbox_cpu
    stats = sandbox.admin.stats()
    run = Run(
        kind=kind,
        rows=table.rows,
        valid_rows=table.valid_rows,
        max_in_flight=in_flight,
        latency_s=latency,
        wall_s=result["wall_s"],
        cpu_s=result["cpu_s"],
        peak_rss_mb=result["peak_rss_mb"],
        events_accepted=int(stats["events_total"]),
        distinct_event_ids=int(stats["distinct_event_ids"]),
        requests=int(stats["requests_by_path"].get("/rest/conversionEvents", 0)),
        throttled=int(stats["requests_by_status"].get("429", 0)),
        most_at_once=int(stats["event_requests_max_concurrent"]),
        most_per_minute=int(stats["event_requests_max_per_minute"]),
        sandbox_cpu_s=round(sandbox_cpu, 2),
        load_1min=round(os.getloadavg()[0], 1),
        batch_size=batch_size,
        throttle_above=throttle_above,
        in_flight_window=result["summary"].get("in_flight_window"),
        batch_seconds=result["summary"].get("batch_seconds"),
    )
    print(
        f" {run.wall_s:6.1f}s wall, {run.cpu_s:5.1f}s CPU ({run.cpu_us_per_row:4.1f} us/row), "
        f"{run.peak_rss_mb:4.0f} MB, sandbox {run.sandbox_cpu_s:5.1f}s CPU, load {run.load_1min:.1f}, "
        f"at once {run.most_at_once}, per minute {run.most_per_minute}, "
        f"429s {run.throttled}, {'ok' if run.accepted_ok else 'MISMATCH'}",
        flush=True,
    )
    return run


def _process_cpu(sandbox: Any) -> float:
    import psutil

    times = psutil.Process(sandbox._process.pid).cpu_times()
    return times.user + times.system


def run_all(
    rows: int, sweep_rows: int, in_flights: list[int], latencies: list[float], cpu_repeats: int
) -> list[Run]:
    from airflow_provider_linkedin_capi.hooks._connection import DEFAULT_API_VERSION
    from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess

    print("Preparing row files ...", flush=True)
    tables = {n: ensure_rows(n) for n in {rows, sweep_rows} if n}
    runs: list[Run] = []
    args = ("--store", "ids", "--requests-per-minute", str(BUDGET_PER_MINUTE))
    with SandboxProcess(args=args) as sandbox:
        conn = sandbox.connection(requests_per_minute=BUDGET_PER_MINUTE, api_version=DEFAULT_API_VERSION)
        started = time.perf_counter()
        if rows:
            for in_flight in in_flights:
                runs.append(measure(sandbox, conn, tables[rows], "main", in_flight, MAIN_LATENCY_S))
        if sweep_rows:
            for latency in latencies:
                for in_flight in in_flights:
                    runs.append(measure(sandbox, conn, tables[sweep_rows], "sweep", in_flight, latency))
        if rows:
            for _ in range(cpu_repeats):
                for in_flight in in_flights:
                    runs.append(measure(sandbox, conn, tables[rows], "cpu", in_flight, 0.0))
        print(f"All measurements took {time.perf_counter() - started:.0f}s", flush=True)
    return runs


def verdicts(runs: list[Run]) -> list[str]:
    lines = []
    for run in (r for r in runs if r.kind == "main"):
        target = TARGETS_S.get(run.max_in_flight)
        verdict = (
            f" (target <= {target:.0f} s: {'met' if run.wall_s <= target else 'NOT met'})" if target else ""
        )
        lines.append(
            f"- {run.rows:,} rows at {run.latency_s:g} s per batch, `max_in_flight={run.max_in_flight}`: "
            f"{run.wall_s:.1f} s{verdict}."
        )
    main = [r for r in runs if r.kind == "main"]
    if main:
        lines.append(
            f"- The budget alone allows {budget_floor_s(main[0].rows):.1f} s for {main[0].rows:,} rows "
            f"({-(-main[0].rows // BATCH)} requests: a burst of {BUDGET_PER_MINUTE // 10}, then "
            f"{(BUDGET_PER_MINUTE - BUDGET_PER_MINUTE // 10) / 60:g} a second)."
        )
    lines.extend(cpu_verdicts(runs))
    worst = max((r.peak_rss_mb for r in runs), default=0)
    lines.append(
        f"- Peak RSS, highest of all runs: {worst:.0f} MB (target < {TARGET_PEAK_RSS_MB} MB: "
        f"{'met' if worst < TARGET_PEAK_RSS_MB else 'NOT met'})."
    )
    lines.append(
        f"- Most events requests the sandbox worked on at once never exceeded `max_in_flight`: "
        f"{'yes' if all(r.most_at_once <= r.max_in_flight for r in runs) else 'NO'}; most received in any "
        f"minute: {max((r.most_per_minute for r in runs), default=0)} (budget {BUDGET_PER_MINUTE}); "
        f"throttled (429) requests: {sum(r.throttled for r in runs)}."
    )
    lines.append(
        "- Every run: events accepted by the sandbox == valid rows == distinct eventIds: "
        f"{'yes' if all(r.accepted_ok for r in runs) else 'NO (see the table)'}."
    )
    return lines


def cpu_verdicts(runs: list[Run]) -> list[str]:
    """CPU per row with no latency, median of the repeated ``cpu`` runs, against ``max_in_flight=1``.

    The target bounds what the window costs: at most 5% more CPU per row than the sequential push. A
    window that costs less (the sending threads overlap the reading and building) meets it too.
    """
    per_limit: dict[int, list[float]] = {}
    for run in runs:
        if run.kind == "cpu":
            per_limit.setdefault(run.max_in_flight, []).append(run.cpu_us_per_row)
    if 1 not in per_limit:
        return []
    base = statistics.median(per_limit[1])
    lines = []
    for in_flight, samples in sorted(per_limit.items()):
        if in_flight == 1:
            continue
        median = statistics.median(samples)
        change = median / base - 1
        lines.append(
            f"- No latency, CPU per row with `max_in_flight={in_flight}` (median of {len(samples)} runs): "
            f"{median:.2f} us against {base:.2f} us with 1 ({change:+.1%}; target at most "
            f"{CPU_TOLERANCE:.0%} more: {'met' if change <= CPU_TOLERANCE else 'NOT met'})."
        )
    return lines


def table_markdown(runs: list[Run]) -> str:
    lines = [
        "| run | rows | latency per batch | max_in_flight | wall s | CPU s | CPU us/row | peak RSS MB "
        "| requests | most at once | most per minute | 429s | sandbox CPU s | load | accepted ok |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.kind} | {r.rows:,} | {r.latency_s * 1000:,.0f} ms | {r.max_in_flight} | {r.wall_s:.1f} "
            f"| {r.cpu_s:.1f} | {r.cpu_us_per_row:.1f} | {r.peak_rss_mb:.0f} | {r.requests} "
            f"| {r.most_at_once} | {r.most_per_minute} | {r.throttled} | {r.sandbox_cpu_s:.1f} "
            f"| {r.load_1min:.1f} | {'yes' if r.accepted_ok else 'NO'} |"
        )
    return "\n".join(lines)


def plot(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_main, ax_sweep) = plt.subplots(1, 2, figsize=(13, 4.8))
    main = [r for r in runs if r.kind == "main"]
    if main:
        labels = [str(r.max_in_flight) for r in main]
        bars = ax_main.bar(range(len(main)), [r.wall_s for r in main], color="tab:blue")
        ax_main.set_xticks(range(len(main)), labels)
        ax_main.bar_label(bars, fmt="%.0f s")
        ax_main.axhline(
            budget_floor_s(main[0].rows), color="grey", linestyle="--", label="the budget's floor"
        )
        for in_flight, target in TARGETS_S.items():
            if str(in_flight) in labels:
                x = labels.index(str(in_flight))
                ax_main.plot([x - 0.4, x + 0.4], [target, target], color="tab:red", linewidth=2)
        ax_main.plot([], [], color="tab:red", linewidth=2, label="target")
        ax_main.set(
            xlabel="max_in_flight",
            ylabel="wall seconds",
            title=f"{main[0].rows:,} rows, 1 s per batch, 600 requests/min",
        )
        ax_main.legend(fontsize=8)
    sweep = [r for r in runs if r.kind == "sweep"]
    latencies = sorted({r.latency_s for r in sweep})
    colors = ("tab:red", "tab:blue", "tab:green", "tab:grey")
    for in_flight, color in zip(sorted({r.max_in_flight for r in sweep}), colors, strict=False):
        points = {r.latency_s: r.wall_s for r in sweep if r.max_in_flight == in_flight}
        xs = [i for i, latency in enumerate(latencies) if latency in points]
        ys = [points[latencies[i]] for i in xs]
        ax_sweep.plot(xs, ys, marker="o", color=color, label=f"max_in_flight={in_flight}")
    if sweep:
        ax_sweep.axhline(
            budget_floor_s(sweep[0].rows), color="grey", linestyle="--", label="the budget's floor"
        )
        ax_sweep.set_xticks(range(len(latencies)), [f"{latency * 1000:g} ms" for latency in latencies])
        ax_sweep.set(
            xlabel="sandbox time per 5,000-event batch",
            ylabel="wall seconds",
            title=f"{sweep[0].rows:,} rows: wall time against latency",
        )
        ax_sweep.legend(fontsize=8)
    for ax in (ax_main, ax_sweep):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def memory_per_batch(runs: list[Run]) -> str:
    """How much peak RSS each batch in flight added in the main runs, from the fewest to the most."""
    main = sorted((r for r in runs if r.kind == "main"), key=lambda r: r.max_in_flight)
    if len(main) < 2 or main[-1].max_in_flight == main[0].max_in_flight:
        return ""
    low, high = main[0], main[-1]
    per_batch = (high.peak_rss_mb - low.peak_rss_mb) / (high.max_in_flight - low.max_in_flight)
    return (
        f"Peak RSS grew by {per_batch:.1f} MB per batch of {BATCH:,} events in flight "
        f"({low.peak_rss_mb:.0f} MB with {low.max_in_flight}, {high.peak_rss_mb:.0f} MB with "
        f"{high.max_in_flight}): a batch waits for "
        "LinkedIn's answer as its JSON request body, not as dicts."
    )


def section_markdown(runs: list[Run], machine: dict[str, str], cmd: str, png: Path) -> str:
    machine_line = ", ".join(
        f"{k}: {v}" for k, v in machine.items() if k in ("date", "cpus", "cpu_model", "python")
    )
    sweep_rows = next((r.rows for r in runs if r.kind == "sweep"), 0)
    return f"""{SECTION_BEGIN}
## Batches in flight: hiding LinkedIn's time per request

Measured with `{cmd}` ({machine_line}). The sandbox ran with LinkedIn's budget of
{BUDGET_PER_MINUTE} requests a minute per token (and throttles above it), the connection's
`requests_per_minute` at the same {BUDGET_PER_MINUTE}, batches of {BATCH:,} events, and a time per
request set with the sandbox's latency setting (half per request, half per event: 1 s per batch is
0.5 s + 0.1 ms per event). How long LinkedIn really takes is UNKNOWN; see docs/scaling.md. The latency
sweep uses {sweep_rows:,} rows to keep the sequential runs short. The "cpu" runs push the main rows with
no latency, each `max_in_flight` in turn, repeated; their verdict compares medians, because a single run
moves by several per cent. Each push ran in a fresh process; CPU
seconds and peak RSS are the pushing process's own. The machine has 2 cores shared with other work
(the sandbox among it), so wall times carry a few seconds of noise; CPU per row is steadier.

{table_markdown(runs)}

{chr(10).join(verdicts(runs))}

**Reading the numbers.** On an idle machine a push takes about the longest of three times: the batches
divided by `max_in_flight`, times the latency per batch (1M rows at 1 s: 50 s with 4 in flight, 20 s with
10); the budget's floor (15.6 s for 200 requests); and the push's own CPU (about 11 s for 1M rows). The
"load" column is the machine's 1-minute load average when the push ended: above 2, processes queue for
the 2 cores. The sandbox, which validates and stores every event on one event loop (its CPU is in the
table; LinkedIn does that work on its own servers), and the push then wait for a core, and wall times
stretch by tens of seconds from one run to the next; the targets above were set for a machine that is
not shared. CPU per row and peak RSS are the figures to compare across runs. {memory_per_batch(runs)}

![wall time by max_in_flight, and against latency per batch]({png.name})
{SECTION_END}"""


def write_section(out: Path, section: str, begin: str = SECTION_BEGIN, end: str = SECTION_END) -> None:
    """Put the section into ``out``, replacing an earlier one; the rest of the file is left alone."""
    text = out.read_text() if out.exists() else ""
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        after = rest.split(end, 1)[1]
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    out.write_text(text)


# ----------------------------------------------------------------------------------------------------
# --auto: max_in_flight="auto" with default settings, against the budget's floor, a sequential push and the
# old fixed default of 4 (the same run), over a minute at the full budget, and under a LinkedIn that
# throttles above a concurrency.


def run_auto(
    rows: int,
    compare_rows: int,
    latencies: list[float],
    compare_latencies: list[float],
    budget_rows: int,
    throttle_rows: int,
    throttle_above: int,
) -> list[Run]:
    from airflow_provider_linkedin_capi.hooks._connection import DEFAULT_API_VERSION
    from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess

    print("Preparing row files ...", flush=True)
    tables = {n: ensure_rows(n) for n in {rows, compare_rows, budget_rows, throttle_rows} if n}
    runs: list[Run] = []
    args = ("--store", "ids", "--requests-per-minute", str(BUDGET_PER_MINUTE))
    with SandboxProcess(args=args) as sandbox:
        # Only the budget is set, as in a deployment; max_in_flight is left to its default.
        conn = sandbox.connection(requests_per_minute=BUDGET_PER_MINUTE, api_version=DEFAULT_API_VERSION)
        started = time.perf_counter()
        for latency in compare_latencies if compare_rows else ():
            for in_flight in (1, 4, "auto"):
                runs.append(measure(sandbox, conn, tables[compare_rows], "compare", in_flight, latency))
        if throttle_rows:
            for in_flight in ("auto", 16):
                runs.append(
                    measure(
                        sandbox,
                        conn,
                        tables[throttle_rows],
                        "throttle",
                        in_flight,
                        1.0,
                        throttle_above=throttle_above,
                    )
                )
        if budget_rows:
            runs.append(
                measure(sandbox, conn, tables[budget_rows], "budget", "auto", 1.0, batch_size=BUDGET_BATCH)
            )
        for latency in latencies if rows else ():
            runs.append(measure(sandbox, conn, tables[rows], "auto", "auto", latency))
        print(f"All measurements took {time.perf_counter() - started:.0f}s", flush=True)
    return runs


def floor_s(run: Run) -> float:
    """The budget's floor as the target states it: the push's batches at ``requests_per_minute / 60`` a
    second (the pacer's burst of 10% would allow a little less)."""
    return -(-run.valid_rows // run.batch_size) / (BUDGET_PER_MINUTE / 60)


def _window(run: Run) -> str:
    window = run.in_flight_window or {}
    if not window:
        return "?"
    return f"{window['min']}-{window['max']} ({window['final']})"


def _latency(run: Run) -> str:
    seconds = run.batch_seconds or {}
    return f"{seconds['median']:.2f} / {seconds['p95']:.2f}" if seconds else "-"


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def auto_verdicts(runs: list[Run]) -> list[str]:
    lines = []
    for run in (r for r in runs if r.kind == "auto"):
        floor = floor_s(run)
        window = run.in_flight_window or {}
        median = (run.batch_seconds or {}).get("median", run.latency_s)
        # With at most 16 in flight, the batches go out in waves of 16: no push can beat that.
        cap_bound = -(-floor * BUDGET_PER_MINUTE / 60 // 16) * median
        lines.append(
            f"- {run.rows:,} rows at {run.latency_s:g} s per batch, default settings: {run.wall_s:.1f} s, "
            f"{run.wall_s / floor:.2f}x the budget's floor of {floor:.1f} s (target <= {FLOOR_FACTOR}x: "
            f"{_met(run.wall_s <= FLOOR_FACTOR * floor)}); the window went from {window.get('min')} to "
            f"{window.get('max')} ({window.get('final')} at the end); LinkedIn's time per batch "
            f"{_latency(run)} s (median / p95), so 16 in flight need at least {cap_bound:.1f} s; the push's "
            f"and the sandbox's CPU together {run.cpu_s + run.sandbox_cpu_s:.1f} s, at least "
            f"{(run.cpu_s + run.sandbox_cpu_s) / 2:.1f} s on 2 cores (load {run.load_1min:.1f}); "
            f"peak RSS {run.peak_rss_mb:.0f} MB (target < {TARGET_PEAK_RSS_MB} MB: "
            f"{_met(run.peak_rss_mb < TARGET_PEAK_RSS_MB)})."
        )
    compared = [r for r in runs if r.kind == "compare"]
    for latency in sorted({r.latency_s for r in compared}):
        by_size = {r.max_in_flight: r for r in compared if r.latency_s == latency}
        sequential, auto = by_size.get(1), by_size.get("auto")
        if sequential is None or auto is None:
            continue
        old = by_size.get(4)
        ratio = auto.wall_s / sequential.wall_s
        lines.append(
            f"- {auto.rows:,} rows at {latency:g} s per batch: one batch at a time "
            f"{sequential.wall_s:.1f} s, "
            + (f"the old default of 4 {old.wall_s:.1f} s, " if old else "")
            + f"`auto` {auto.wall_s:.1f} s: {ratio:.3f}x the sequential push (target <= "
            f"{SEQUENTIAL_FRACTION}x: {_met(ratio <= SEQUENTIAL_FRACTION)}); window {_window(auto)}."
        )
    for run in (r for r in runs if r.kind == "budget"):
        lines.append(
            f"- Over a minute at the full budget ({run.rows:,} rows in batches of {run.batch_size}, 1 s per "
            f"request): {run.requests} requests in {run.wall_s:.1f} s, most in any 60 s "
            f"{run.most_per_minute} (budget {BUDGET_PER_MINUTE}: "
            f"{_met(run.most_per_minute <= BUDGET_PER_MINUTE)}); window {_window(run)}; "
            f"429s: {run.throttled}."
        )
    most = max((r.most_per_minute for r in runs), default=0)
    lines.append(
        f"- Most events requests the sandbox received in any minute, over every run: {most} (budget "
        f"{BUDGET_PER_MINUTE}: {_met(most <= BUDGET_PER_MINUTE)})."
    )
    for run in (r for r in runs if r.kind == "throttle"):
        window = run.in_flight_window or {}
        if run.max_in_flight == "auto":
            settled = window.get("final", 99) <= (run.throttle_above or 0)
            verdict = f"settles at or below {run.throttle_above}: {_met(settled)}"
        else:
            verdict = "for comparison"
        lines.append(
            f"- A sandbox that answers 429 above {run.throttle_above} events requests at once, "
            f"{run.rows:,} rows at 1 s per batch, `max_in_flight={run.max_in_flight}`: {run.throttled} 429s "
            f"in {run.requests} requests, {run.wall_s:.1f} s, window {_window(run)} ({verdict}), most at "
            f"once at the sandbox {run.most_at_once}, peak RSS {run.peak_rss_mb:.0f} MB."
        )
    lines.append(
        "- Every run: events accepted by the sandbox == valid rows == distinct eventIds: "
        f"{'yes' if all(r.accepted_ok for r in runs) else 'NO (see the table)'}."
    )
    return lines


def auto_table_markdown(runs: list[Run]) -> str:
    lines = [
        "| run | rows | events per batch | sandbox latency per batch | max_in_flight | wall s | CPU s "
        "| sandbox CPU s | peak RSS MB | requests | 429s | most at once | most per minute "
        "| window min-max (final) | batch s median / p95 | load | accepted ok |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.kind} | {r.rows:,} | {r.batch_size:,} | {r.latency_s * 1000:,.0f} ms | {r.max_in_flight} "
            f"| {r.wall_s:.1f} | {r.cpu_s:.1f} | {r.sandbox_cpu_s:.1f} | {r.peak_rss_mb:.0f} | {r.requests} "
            f"| {r.throttled} "
            f"| {r.most_at_once} | {r.most_per_minute} | {_window(r)} | {_latency(r)} | {r.load_1min:.1f} "
            f"| {'yes' if r.accepted_ok else 'NO'} |"
        )
    return "\n".join(lines)


def auto_section_markdown(runs: list[Run], machine: dict[str, str], cmd: str) -> str:
    machine_line = ", ".join(
        f"{k}: {v}" for k, v in machine.items() if k in ("date", "cpus", "cpu_model", "python")
    )
    return f"""{AUTO_SECTION_BEGIN}
## A window that sizes itself: `max_in_flight="auto"`

Measured with `{cmd}` ({machine_line}). Default settings: the operator sets no `max_in_flight`, so the
window starts at 4 and sizes itself (docs/operators.md, `push/sizing.py`); the connection and the sandbox
allow {BUDGET_PER_MINUTE} requests a minute. LinkedIn's time per batch is played by the sandbox's latency
setting (half per request, half per event; the budget run's small batches take the whole time per
request). The baselines ran in the same session: one batch at a time (`max_in_flight=1`) and the old
fixed default of 4. "most at once" and "most per minute" are the sandbox's own counts of events requests;
"window" is the push's summary (`in_flight_window`: the smallest and largest size it allowed, its size at
the end) and "batch s" its `batch_seconds` (LinkedIn's time per batch as the push measured it: the round
trips, without the waits for the budget). The "throttle" runs play a LinkedIn that answers 429 above
{THROTTLE_ABOVE} requests at once (a sandbox fault, `429:every=1,above={THROTTLE_ABOVE}`). Each push ran in a
fresh process; the machine has 2 cores, shared with the sandbox, which validates every event.

{auto_table_markdown(runs)}

{chr(10).join(auto_verdicts(runs))}

**Reading the numbers.** The budget's floor is the push's requests at {BUDGET_PER_MINUTE // 60} a second. A
window keeps the budget busy once it holds LinkedIn's time per batch divided by 0.1 s: 5 batches at 0.5 s,
10 at 1 s, 20 at 2 s, which is past the cap of 16 (the keep-alive connections the hook pools). At 2 s per
batch, then, no push with 16 in flight reaches 1.3x the floor: the batches go out in waves of 16, each as
long as LinkedIn's time per batch, which on this 2-core machine, shared with the sandbox, is also longer
than the sandbox's setting (the "batch s" column). The window grows by one per answer while LinkedIn takes
longer than the spacing and no request waited for the pacer, cuts back when two or more requests stand in
line at the pacer, and halves on a 429 (never again above one below the batches in flight when it came).
On these 2 cores the push and the sandbox compete for CPU: the push builds, hashes and writes every event,
the sandbox parses and validates every batch on one event loop, one batch at a time, so a full window
also makes each answer slower (the "batch s" column against the setting), and the 1M-row pushes are
bound by CPU as much as by LinkedIn's time: their CPU line shows how much. LinkedIn does its share on its
own servers. The "load" column is the machine's 1-minute load average at the end of each push; other
work shared the machine.
{AUTO_SECTION_END}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the main measurement (0: skip)")
    parser.add_argument("--sweep-rows", type=int, default=200_000, help="rows of the latency sweep (0: skip)")
    parser.add_argument("--in-flight", default="1,4,10")
    parser.add_argument(
        "--latencies",
        default=None,
        help="seconds per batch: of the sweep (default 0,0.1,0.3,1,3), with --auto of the main rows "
        "(default 0.5,1,2)",
    )
    parser.add_argument(
        "--cpu-repeats", type=int, default=3, help="no-latency runs of the main rows per max_in_flight"
    )
    parser.add_argument(
        "--auto",
        action="store_true",
        help='measure max_in_flight="auto" (the default) instead of fixed windows: the main rows at each '
        "latency, --compare-rows against one batch at a time and the old default of 4, a push over a "
        "minute at the full budget, and a sandbox that answers 429 above a concurrency",
    )
    parser.add_argument("--compare-rows", type=int, default=200_000, help="with --auto (0: skip)")
    parser.add_argument(
        "--compare-latencies", default=",".join(f"{s:g}" for s in COMPARE_LATENCIES_S), help="with --auto"
    )
    parser.add_argument(
        "--budget-rows",
        type=int,
        default=200_000,
        help=f"with --auto, in batches of {BUDGET_BATCH} (0: skip)",
    )
    parser.add_argument("--throttle-rows", type=int, default=200_000, help="with --auto (0: skip)")
    parser.add_argument("--throttle-above", type=int, default=THROTTLE_ABOVE, help="with --auto")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to write (docs/benchmarks.md)")
    parser.add_argument("--from-results", type=Path, default=None, help="re-render a saved results JSON")
    args = parser.parse_args()
    if args.from_results:
        saved = json.loads(args.from_results.read_text())
        cmd, machine, runs = saved["cmd"], saved["machine"], [Run(**r) for r in saved["runs"]]
        auto = saved.get("auto", False)
    else:
        auto = args.auto
        cmd = "python benchmarks/push_in_flight.py " + " ".join(sys.argv[1:])
        machine = machine_description()
        default_latencies = AUTO_LATENCIES_S if auto else SWEEP_LATENCIES_S
        latencies = [
            float(s) for s in (args.latencies or ",".join(map(str, default_latencies))).split(",") if s
        ]
        if auto:
            runs = run_auto(
                args.rows,
                args.compare_rows,
                latencies,
                [float(s) for s in args.compare_latencies.split(",") if s],
                args.budget_rows,
                args.throttle_rows,
                args.throttle_above,
            )
        else:
            in_flights = [int(n) for n in args.in_flight.split(",") if n]
            runs = run_all(args.rows, args.sweep_rows, in_flights, latencies, args.cpu_repeats)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        raw = RESULTS_DIR / f"{'auto-window' if auto else 'in-flight'}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
        raw.write_text(
            json.dumps(
                {"cmd": cmd, "machine": machine, "auto": auto, "runs": [dataclasses.asdict(r) for r in runs]}
            )
        )
        print(f"Raw results saved to {raw} (re-render with --from-results)")
    print()
    if auto:
        print(auto_table_markdown(runs))
        print()
        print("\n".join(auto_verdicts(runs)))
        if args.out:
            write_section(
                args.out,
                auto_section_markdown(runs, machine, cmd.strip()),
                AUTO_SECTION_BEGIN,
                AUTO_SECTION_END,
            )
            print(f"Wrote {args.out}")
    else:
        print(table_markdown(runs))
        print()
        print("\n".join(verdicts(runs)))
        if args.out:
            png = args.out.with_name("benchmarks-in-flight.png")
            plot(runs, png)
            write_section(args.out, section_markdown(runs, machine, cmd.strip(), png))
            print(f"Wrote {args.out} and {png}")
    if not all(r.accepted_ok for r in runs):
        sys.exit("Some run did not deliver exactly the valid rows; see the table.")


if __name__ == "__main__":
    main()
