"""Where the push's CPU goes, stage by stage, without a profiler's distortion.

cProfile multiplies the cost of every small Python call, so it exaggerates the per-row builder against
C-level work (SQLite, orjson, sockets). This script times each stage of the push separately, in CPU
seconds of this process (``time.process_time``), over the same generated rows the benchmark uses:

1. ``fetch``: streaming the query from SQLite through the provider's row source (``fetchmany``);
2. ``build``: ``EventBuilder.build`` on every row (the pure layer: normalise, hash, validate, eventId);
   also split into the cost of deriving eventIds from key columns, by building again with ``eventId``
   supplied by the query;
3. ``serialize``: ``orjson.dumps({"elements": batch})`` of every batch of 5,000 events;
4. ``http``: posting every batch to the sandbox through ``LinkedInCapiHook.send_conversion_events``
   (serialisation included; the sandbox runs in another process, so its CPU is not counted).

Run::

    .venv/bin/python benchmarks/profile_stages.py --rows 100000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from generate_rows import ensure_rows  # noqa: E402

BATCH = 5_000
STAGES_BEGIN = "--- stages ---"
STAGES_END = "--- end of stages ---"


def _cpu(fn, *args):
    """CPU seconds of ``fn``, with the garbage collector handled as the operator's push handles it."""
    from airflow_provider_linkedin_capi.push.engine import collector_paused_for_old_objects

    with collector_paused_for_old_objects():
        start = time.process_time()
        result = fn(*args)
        return time.process_time() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    table = ensure_rows(args.rows)

    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="linkedin-capi-bench-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ["AIRFLOW_CONN_BENCHMARK_SQLITE"] = json.dumps({"conn_type": "sqlite", "host": str(table.path)})

    import orjson

    from airflow_provider_linkedin_capi.conversions import ConversionSettings, EventBuilder
    from airflow_provider_linkedin_capi.hooks.linkedin_capi import LinkedInCapiHook
    from airflow_provider_linkedin_capi.push.sources import get_db_hook, open_row_stream
    from airflow_provider_linkedin_capi.sandbox.testing import SandboxProcess

    def fetch():
        rows: list = []
        with open_row_stream(get_db_hook("benchmark_sqlite"), table.query, fetch_size=BATCH) as stream:
            for chunk in stream.chunks():
                rows.extend(chunk)
            return stream.columns, rows

    fetch_cpu, (columns, rows) = _cpu(fetch)

    def build_all(builder):
        build = builder.build
        return [e for e in (build(r) for r in rows) if e.__class__ is dict]

    with SandboxProcess(args=("--store", "ids", "--requests-per-minute", "1000000")) as sandbox:
        rule_id = str(sandbox.admin.create_rule(name="stages")["id"])
        settings = ConversionSettings(conversion_rule_id=rule_id, key_columns=["crm_id"])
        build_cpu, events = _cpu(build_all, EventBuilder(columns, settings))

        # The same rows with their eventId already in the query: the difference is the key-derivation cost.
        id_columns = [*columns, "eventId"]
        rows_with_ids = [(*r, f"crm-{r[0]}") for r in rows]
        builder_ids = EventBuilder(id_columns, ConversionSettings(conversion_rule_id=rule_id))
        build_ids_cpu, _ = _cpu(lambda: [builder_ids.build(r) for r in rows_with_ids])

        batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
        serialize_cpu, _ = _cpu(lambda: [orjson.dumps({"elements": b}) for b in batches])

        os.environ["AIRFLOW_CONN_BENCHMARK_LINKEDIN"] = sandbox.connection_json(requests_per_minute=1_000_000)
        hook = LinkedInCapiHook("benchmark_linkedin")
        hook.get_access_token()
        http_cpu, _ = _cpu(lambda: [hook.send_conversion_events(b) for b in batches])

    n = len(rows)
    stages = [
        ("fetch (SQLite fetchmany via the row source)", fetch_cpu),
        ("build (EventBuilder.build, eventId from key_columns)", build_cpu),
        ("  of which: deriving eventId from key columns", build_cpu - build_ids_cpu),
        ("serialize (orjson.dumps of the batches)", serialize_cpu),
        ("http (hook.send_conversion_events, incl. serialize)", http_cpu),
    ]
    total = fetch_cpu + build_cpu + http_cpu
    lines = [f"{n:,} rows, {len(events):,} events, {len(batches)} batches; CPU seconds of this process:"]
    for name, cpu in stages:
        lines.append(f"  {name:55s} {cpu:7.2f} s  {cpu / n * 1e6:7.2f} us/row  {cpu / total:6.1%}")
    lines.append(f"  {'total (fetch + build + http)':55s} {total:7.2f} s  {total / n * 1e6:7.2f} us/row")
    lines.append(f"  => at most {n / total:,.0f} rows per CPU second for this code path")
    # Markers let push_throughput.py lift the block out of output that also holds Airflow's log lines.
    print("\n".join([STAGES_BEGIN, *lines, STAGES_END]), flush=True)


if __name__ == "__main__":
    main()
