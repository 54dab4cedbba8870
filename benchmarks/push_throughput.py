"""Measure the SQL -> LinkedIn push: throughput per CPU second, wall throughput, peak and flat memory.

What it does, in one run:

1. builds (or reuses, from ``benchmarks/out/``) a SQLite file of N realistic CRM rows per size;
2. starts the local sandbox as a separate process (``--store ids`` so the sandbox's own memory stays small,
   and a per-minute limit far above LinkedIn's real 600 requests/minute, with the connection's
   ``requests_per_minute`` raised to match: otherwise the benchmark would measure the pacing, not the code);
3. for each size, runs ``SqlToLinkedInCapiOperator.execute`` in a FRESH child process (``_measure.py``), so
   CPU seconds and peak RSS belong to the pushing process only; then, at the baseline sizes, the same
   for the hand-written pandas + requests push (``baseline_pandas_requests.py``), and at the floor sizes
   for the minimal loop that validates nothing (``floor_minimal_push.py``), which shows what the
   interpreter and machine allow;
4. checks that the sandbox accepted exactly the valid rows, once each, after every measurement;
5. prints a table and writes it, with a plot and the machine it ran on, to ``docs/benchmarks.md`` and
   ``docs/benchmarks.png``.

Run::

    .venv/bin/python benchmarks/push_throughput.py --rows 100000,1000000,5000000 \
        --baseline-rows 100000,1000000 --floor-rows 100000,1000000 --out docs/benchmarks.md

``--profile DIR`` also writes a cProfile of each of our pushes (``ours_<rows>.prof``) and prints the top
functions, to show where the time goes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "out"
sys.path.insert(0, str(BENCH_DIR))

from _measure import RESULT_PREFIX  # noqa: E402
from generate_rows import GeneratedTable, ensure_rows  # noqa: E402

# Far above LinkedIn's 600/min, so the pacing never waits: this measures the code, not the budget.
SANDBOX_REQUESTS_PER_MINUTE = 1_000_000
#: DESIGN's CPU targets, relative to pushes measured in the same run: rows per CPU second at least this
#: many times the pandas + requests baseline's, and at least this share of the minimal loop's.
TARGET_TIMES_BASELINE = 2.0
TARGET_SHARE_OF_MINIMAL_LOOP = 0.75
#: Table and plot labels of the three pushes measured.
IMPLEMENTATIONS = {
    "ours": "SqlToLinkedInCapiOperator",
    "baseline": "pandas + requests baseline",
    "floor": "minimal loop, no validation",
}
TARGET_PEAK_RSS_MB = 250


@dataclass
class Measurement:
    impl: str
    rows: int
    valid_rows: int
    wall_s: float
    cpu_s: float
    startup_cpu_s: float
    peak_rss_mb: float
    events_accepted: int
    distinct_event_ids: int
    summary: dict[str, Any]
    rss_samples: list[tuple[float, float]] = field(default_factory=list)

    @property
    def rows_per_wall_s(self) -> float:
        return self.rows / self.wall_s if self.wall_s else 0.0

    @property
    def rows_per_cpu_s(self) -> float:
        return self.rows / self.cpu_s if self.cpu_s else 0.0

    @property
    def accepted_ok(self) -> bool:
        return self.events_accepted == self.valid_rows == self.distinct_event_ids

    @property
    def rss_growth_mb(self) -> float:
        """Resident memory at the end of the push minus after its first 10%: flat memory stays near 0."""
        if len(self.rss_samples) < 5:
            return 0.0
        early = self.rss_samples[max(1, len(self.rss_samples) // 10)][1]
        return max(rss for _, rss in self.rss_samples) - early


def _child_env() -> dict[str, str]:
    env = os.environ.copy()
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH")]))
    return env


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one push in a fresh interpreter and return its measured result."""
    proc = subprocess.run(
        [sys.executable, str(BENCH_DIR / "_measure.py"), json.dumps(spec)],
        capture_output=True,
        text=True,
        env=_child_env(),
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = "\n".join(proc.stderr.splitlines()[-40:])
    raise RuntimeError(f"{spec['impl']} push exited with {proc.returncode} and no result:\n{tail}")


def measure(
    sandbox: Any, impl: str, table: GeneratedTable, conn: dict, profile_dir: Path | None
) -> Measurement:
    sandbox.admin.reset()
    rule = sandbox.admin.create_rule(name=f"benchmark {impl} {table.rows}")
    rule_id = str(rule["id"])
    spec = {
        "impl": impl,
        "db_path": str(table.path),
        "query": table.query,
        "conn": conn,
        "rule_id": rule_id,
        "profile": str(profile_dir / f"{impl}_{table.rows}.prof") if profile_dir else None,
    }
    print(f"  {impl:8s} {table.rows:>9,} rows ...", end="", flush=True)
    result = run_child(spec)
    stats = sandbox.admin.stats()
    m = Measurement(
        impl=impl,
        rows=table.rows,
        valid_rows=table.valid_rows,
        wall_s=result["wall_s"],
        cpu_s=result["cpu_s"],
        startup_cpu_s=result["startup_cpu_s"],
        peak_rss_mb=result["peak_rss_mb"],
        events_accepted=int(stats["events_total"]),
        distinct_event_ids=int(stats["distinct_event_ids"]),
        summary=result["summary"],
        rss_samples=[tuple(s) for s in result["rss_samples"]],
    )
    print(
        f" {m.wall_s:7.1f}s wall, {m.cpu_s:7.1f}s CPU, {m.rows_per_cpu_s:>9,.0f} rows/CPU-s,"
        f" {m.peak_rss_mb:6.0f} MB peak, accepted {m.events_accepted:,}/{m.valid_rows:,}"
        f" {'ok' if m.accepted_ok else 'MISMATCH'}",
        flush=True,
    )
    if spec["profile"]:
        print_profile(Path(spec["profile"]))
    return m


def print_profile(path: Path, limit: int = 25) -> None:
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(limit)


def stage_breakdown(rows: int) -> str:
    """Run ``profile_stages.py`` in a fresh process and return its stage table (empty on failure)."""
    from profile_stages import STAGES_BEGIN, STAGES_END

    print(f"Timing the stages of the push on {rows:,} rows ...", flush=True)
    proc = subprocess.run(
        [sys.executable, str(BENCH_DIR / "profile_stages.py"), "--rows", str(rows)],
        capture_output=True,
        text=True,
        env=_child_env(),
        check=False,
    )
    out = proc.stdout
    if STAGES_BEGIN not in out or STAGES_END not in out:
        print(f"profile_stages.py failed (rc={proc.returncode}): {proc.stderr[-2000:]}")
        return ""
    block = out.split(STAGES_BEGIN, 1)[1].split(STAGES_END, 1)[0].strip("\n")
    print(block)
    return block


def machine_description() -> dict[str, str]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in ("apache-airflow", "airflow-provider-linkedin-capi", "requests", "orjson", "pandas"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "python speed": _interpreter_speed(),
        "os": f"{platform.system()} {platform.release()}",
        **versions,
    }


def _interpreter_speed() -> str:
    """``sum(range(1000))`` in this interpreter: one number to compare machines by (lower is faster)."""
    import timeit

    best = min(timeit.repeat("sum(range(1000))", number=20_000, repeat=5)) / 20_000
    return f"sum(range(1000)) takes {best * 1e6:.1f} us (python -m timeit)"


def table_markdown(results: list[Measurement]) -> str:
    lines = [
        "| implementation | rows | wall s | wall rows/s | CPU s | rows per CPU s | startup CPU s "
        "| peak RSS MB | RSS growth MB | accepted by sandbox | valid rows |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in results:
        name = IMPLEMENTATIONS[m.impl]
        lines.append(
            f"| {name} | {m.rows:,} | {m.wall_s:.1f} | {m.rows_per_wall_s:,.0f} | {m.cpu_s:.1f} "
            f"| {m.rows_per_cpu_s:,.0f} | {m.startup_cpu_s:.1f} | {m.peak_rss_mb:.0f} "
            f"| {m.rss_growth_mb:.0f} | {m.events_accepted:,} | {m.valid_rows:,} |"
        )
    return "\n".join(lines)


def plot(results: list[Measurement], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_cpu, ax_rss, ax_time) = plt.subplots(1, 3, figsize=(16, 4.8))
    styles = {
        "ours": ("SqlToLinkedInCapiOperator", "tab:blue", "o"),
        "baseline": ("pandas + requests", "tab:red", "s"),
        "floor": ("minimal loop, no validation", "tab:grey", "^"),
    }
    for impl, (label, color, marker) in styles.items():
        runs = sorted((m for m in results if m.impl == impl), key=lambda m: m.rows)
        if not runs:
            continue
        xs = [m.rows for m in runs]
        ax_cpu.plot(xs, [m.rows_per_cpu_s for m in runs], marker=marker, color=color, label=label)
        ax_rss.plot(xs, [m.peak_rss_mb for m in runs], marker=marker, color=color, label=label)
        for m in runs:
            if m.rss_samples:
                end = m.rss_samples[-1][0] or 1.0
                ax_time.plot(
                    [t / end for t, _ in m.rss_samples],
                    [rss for _, rss in m.rss_samples],
                    color=color,
                    alpha=0.35 + 0.65 * (m.rows / max(xs)),
                    label=f"{label}, {m.rows:,} rows",
                )
    ax_cpu.set(xscale="log", xlabel="rows", ylabel="rows per CPU second", title="Throughput per CPU second")
    ax_rss.axhline(TARGET_PEAK_RSS_MB, color="grey", linestyle="--", label="target 250 MB")
    ax_rss.set(xscale="log", yscale="log", xlabel="rows", ylabel="peak RSS (MB)", title="Peak memory")
    ax_time.set(xlabel="fraction of the push", ylabel="RSS (MB)", title="Memory during the push")
    for ax in (ax_cpu, ax_rss, ax_time):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _medians(results: list[Measurement], impl: str) -> tuple[dict[int, tuple[float, int]], ...]:
    """Per size: (median rows per CPU second, runs) and (median peak RSS MB, runs) of one push."""
    by_rows: dict[int, list[Measurement]] = {}
    for m in results:
        if m.impl == impl:
            by_rows.setdefault(m.rows, []).append(m)
    cpu = {n: (statistics.median(m.rows_per_cpu_s for m in ms), len(ms)) for n, ms in by_rows.items()}
    rss = {n: (statistics.median(m.peak_rss_mb for m in ms), len(ms)) for n, ms in by_rows.items()}
    return cpu, rss


def _runs(count: int) -> str:
    return f" (medians of {count} runs)" if count > 1 else ""


def write_markdown(
    results: list[Measurement], machine: dict[str, str], out: Path, png: Path, cmd: str, stages: str
) -> None:
    ours = [m for m in results if m.impl == "ours"]
    verdicts = []
    if ours:
        worst_cpu = min(m.rows_per_cpu_s for m in ours)
        worst_rss = max(m.peak_rss_mb for m in ours)
        verdicts = [
            f"- Rows per CPU second: lowest measured {worst_cpu:,.0f} (the targets compare it with the "
            "pushes below, measured in the same run).",
            f"- Peak RSS (target < {TARGET_PEAK_RSS_MB} MB): highest measured {worst_rss:.0f} MB "
            f"({'met' if worst_rss < TARGET_PEAK_RSS_MB else 'NOT met'}).",
            "- Flat memory: peak RSS from the smallest to the largest run went "
            f"{ours[0].peak_rss_mb:.0f} MB -> {ours[-1].peak_rss_mb:.0f} MB for "
            f"{ours[0].rows:,} -> {ours[-1].rows:,} rows.",
            "- Every run: events accepted by the sandbox == valid rows == distinct eventIds: "
            f"{'yes' if all(m.accepted_ok for m in results) else 'NO (see table)'}.",
        ]
        ours_cpu, ours_rss = _medians(results, "ours")
        floor_cpu, _ = _medians(results, "floor")
        base_cpu, base_rss = _medians(results, "baseline")
        for rows, floor in sorted(floor_cpu.items()):
            if rows in ours_cpu and floor[0]:
                share = ours_cpu[rows][0] / floor[0]
                verdicts.append(
                    f"- Against the minimal loop at {rows:,} rows{_runs(floor[1])}: it reaches "
                    f"{floor[0]:,.0f} rows per CPU second with no validation at all; ours reaches "
                    f"{ours_cpu[rows][0]:,.0f}, "
                    f"{share:.0%} of that (target at least {TARGET_SHARE_OF_MINIMAL_LOOP:.0%}: "
                    f"{'met' if share >= TARGET_SHARE_OF_MINIMAL_LOOP else 'NOT met'})."
                )
        for rows, base in sorted(base_cpu.items()):
            if rows in ours_cpu and base[0]:
                times = ours_cpu[rows][0] / base[0]
                verdicts.append(
                    f"- Against the pandas + requests baseline at {rows:,} rows{_runs(base[1])}: "
                    f"{times:.2f}x its rows per CPU second (target at least {TARGET_TIMES_BASELINE:g}x: "
                    f"{'met' if times >= TARGET_TIMES_BASELINE else 'NOT met'}), "
                    f"{base_rss[rows][0] / ours_rss[rows][0]:.1f}x less peak memory."
                )
    machine_lines = "\n".join(f"| {k} | {v} |" for k, v in machine.items())
    text = f"""# Benchmarks: pushing SQL rows to LinkedIn

Measured with `{cmd}`. The numbers are what one run of that command printed on the machine below; run
it yourself to reproduce them (the first run also generates the row files under `benchmarks/out/`).

## What is measured

- **Source:** a SQLite table of realistic CRM rows (padded, mixed-case emails; names, company, title,
  country; an amount in one of several currencies for most rows; zone-less `YYYY-MM-DD HH:MM:SS`
  timestamps read as UTC). About 1.5% of the rows are invalid on purpose (an email with no `@`, a
  conversion older than 90 days), so the check "events accepted == valid rows" means something.
- **Destination:** the provider's local sandbox (`python -m airflow_provider_linkedin_capi.sandbox
  --store ids`), in its own process, over real HTTP on 127.0.0.1. The sandbox's per-minute limit and the
  connection's `requests_per_minute` are raised to {SANDBOX_REQUESTS_PER_MINUTE:,} so that the pacing
  never waits: **the real LinkedIn budget is 600 requests per minute per token**, i.e. at most 3,000,000
  events per minute in batches of 5,000, so on LinkedIn the wall time of a large push is set by that
  budget, not by this code. What this benchmark measures is the client's cost.
- **Each measurement runs in a fresh child process** (`benchmarks/_measure.py`): CPU seconds (user + sys,
  `getrusage(RUSAGE_SELF)`, taken around the push) and peak RSS (`ru_maxrss`) belong to the pushing
  process alone, not to the sandbox. Importing Airflow and the provider (or pandas and requests) is
  paid once per task and is left out of the CPU figure (it is the "startup CPU s" column); peak RSS
  includes it. "Rows" counts every row read, valid or not.
- **RSS growth** is the highest resident memory during the push minus the resident memory after its
  first 10%, sampled every 0.2 s with psutil: it stays near zero when memory is flat.
- **Baseline:** `benchmarks/baseline_pandas_requests.py`, the push users write today in a PythonOperator:
  `pd.read_sql` of the whole query, `Series.apply` + `hashlib` per row, one dict per row, `json.dumps` and
  `requests.post` in batches of 5,000 to the same sandbox. It holds the whole result and every event in
  memory, so its memory grows with the rows; it is measured at the smaller sizes only.
- **Minimal loop:** `benchmarks/floor_minimal_push.py`, the least a push of these rows can do in
  CPython: `fetchmany`, then per row only trim + lower-case + SHA-256 of the e-mail, the timestamp to
  epoch ms, a SHA-256 eventId from the rule and the CRM id, one dict, and orjson + `requests` per batch
  of 5,000. It validates nothing, knows the table's column order and handles no errors, so it is not a
  product; it shows what this interpreter on this machine allows, i.e. how much of the gap to the target
  is the provider's and how much is the platform's.
- **Wall time** includes the sandbox's own work on the same machine (it validates and stores every
  event), so wall rows/s is a floor, not what LinkedIn would see.

## Results

{table_markdown(results)}

{chr(10).join(verdicts)}

![rows per CPU second, peak RSS and RSS over time]({png.name})

## Where the CPU goes

`benchmarks/profile_stages.py` times each stage of our push on its own, in CPU seconds of one process
(no profiler, whose per-call overhead would exaggerate the many small Python calls of the row builder).
Compare each stage's us/row with the minimal loop's whole push per row in the table above (1e6 divided
by its rows per CPU second), which fetches, hashes, serialises and posts too:

```
{stages or "(not run: pass --stages ROWS)"}
```

For a function-level view, `python benchmarks/push_throughput.py --rows 100000 --baseline-rows ""
--floor-rows "" --profile DIR` writes a cProfile (CPU-time clock) of each push and prints its top functions.

## Machine

| | |
|---|---|
{machine_lines}

The machine was shared with other work while measuring; CPU seconds are far less sensitive to that than
wall time, which is why the targets are stated per CPU second.
"""
    out.write_text(text + _kept_in_flight_section(out))


def _kept_in_flight_section(out: Path) -> str:
    """The sections ``push_in_flight.py`` wrote into ``out`` ("Batches in flight", and "A window that sizes
    itself" with ``--auto``), so a re-run keeps them."""
    from push_in_flight import KEPT_SECTIONS

    old = out.read_text() if out.exists() else ""
    kept = ""
    for begin, end in KEPT_SECTIONS:
        if begin in old and end in old:
            kept += "\n" + begin + old.split(begin, 1)[1].split(end, 1)[0] + end + "\n"
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100000,1000000,5000000")
    parser.add_argument("--baseline-rows", default="100000,1000000")
    parser.add_argument("--floor-rows", default="100000,1000000", help="sizes for the minimal loop")
    parser.add_argument(
        "--out", type=Path, default=None, help="markdown file to write (e.g. docs/benchmarks.md)"
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="directory for cProfile output of our pushes"
    )
    parser.add_argument(
        "--stages",
        type=int,
        default=None,
        help="rows for the per-stage CPU split (0: skip it; default 100000, or 0 with --from-results)",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="run every measurement this many times; verdicts use medians"
    )
    parser.add_argument(
        "--from-results",
        type=Path,
        default=None,
        help="re-render a saved results JSON; measures nothing unless --stages is given",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.rows.split(",") if s]
    baseline_sizes = [int(s) for s in args.baseline_rows.split(",") if s]
    floor_sizes = [int(s) for s in args.floor_rows.split(",") if s]

    if args.from_results:
        saved = json.loads(args.from_results.read_text())
        cmd, machine = saved["cmd"], saved["machine"]
        results = [
            Measurement(**{**m, "rss_samples": list(map(tuple, m["rss_samples"]))}) for m in saved["results"]
        ]
    else:
        cmd = "python benchmarks/push_throughput.py " + " ".join(sys.argv[1:])
        machine = machine_description()
        results = run_measurements(
            {"ours": sizes, "baseline": baseline_sizes, "floor": floor_sizes}, args.profile, args.repeats
        )
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        raw = RESULTS_DIR / f"results-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
        payload = {"cmd": cmd, "machine": machine, "results": [dataclasses.asdict(m) for m in results]}
        raw.write_text(json.dumps(payload))
        print(f"Raw results saved to {raw} (re-render with --from-results)", flush=True)

    print()
    print(table_markdown(results))
    stage_rows = args.stages if args.stages is not None else (0 if args.from_results else 100_000)
    stages = stage_breakdown(stage_rows) if stage_rows else ""
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        png = args.out.with_suffix(".png")
        plot(results, png)
        write_markdown(results, machine, args.out, png, cmd.strip(), stages)
        print(f"Wrote {args.out} and {png}")
    if not all(m.accepted_ok for m in results):
        sys.exit("Some run did not deliver exactly the valid rows; see the table.")


def run_measurements(
    sizes_by_impl: dict[str, list[int]], profile: Path | None, repeats: int = 1
) -> list[Measurement]:
    """Start the sandbox once and measure every size, each push in its own fresh process.

    With ``repeats`` > 1 the whole sequence runs again that many times, so the three pushes of one size
    alternate and share the machine's moods; the verdicts then compare medians.
    """
    from airflow_provider_linkedin_capi.hooks._connection import DEFAULT_API_VERSION
    from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess

    print("Preparing row files ...", flush=True)
    all_sizes = sorted({n for sizes in sizes_by_impl.values() for n in sizes})
    tables = {n: ensure_rows(n) for n in all_sizes}
    if profile:
        profile.mkdir(parents=True, exist_ok=True)

    results: list[Measurement] = []
    sandbox_args = ("--store", "ids", "--requests-per-minute", str(SANDBOX_REQUESTS_PER_MINUTE))
    with SandboxProcess(args=sandbox_args) as sandbox:
        conn = sandbox.connection(requests_per_minute=SANDBOX_REQUESTS_PER_MINUTE)
        conn["extra"].setdefault("api_version", DEFAULT_API_VERSION)
        started = time.perf_counter()
        for _ in range(repeats):
            for n in all_sizes:
                for impl, sizes in sizes_by_impl.items():
                    if n in sizes:
                        results.append(
                            measure(sandbox, impl, tables[n], conn, profile if impl == "ours" else None)
                        )
        print(f"All measurements took {time.perf_counter() - started:.0f}s", flush=True)
    return results


if __name__ == "__main__":
    main()
