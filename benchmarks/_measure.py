"""Run ONE push in this (fresh) process and print what it cost, as one JSON line on stdout.

``push_throughput.py`` starts this module as a child process per measurement, so that peak RSS
(``ru_maxrss``) and CPU seconds (``getrusage(RUSAGE_SELF)``) belong to the pushing process alone, never to
the sandbox or to an earlier measurement. CPU is taken around the push itself; the cost of importing
Airflow is reported separately (``startup_cpu_s``) because a worker pays it once per task, not per row.

Usage (normally only from push_throughput.py)::

    python benchmarks/_measure.py '{"impl": "ours", "db_path": ..., "query": ..., "conn": {...},
                                    "rule_id": "...", "profile": null}'
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import threading
import time
from typing import Any

_STARTED = time.perf_counter()
RESULT_PREFIX = "BENCHMARK-RESULT "
SAMPLE_INTERVAL_S = 0.2


class RssSampler(threading.Thread):
    """Samples this process's resident set size every ``SAMPLE_INTERVAL_S`` seconds."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        import psutil

        self._process = psutil.Process()
        self._done = threading.Event()
        self.samples: list[tuple[float, float]] = []
        self._t0 = time.perf_counter()

    def run(self) -> None:
        while not self._done.is_set():
            rss = self._process.memory_info().rss / 2**20
            self.samples.append((round(time.perf_counter() - self._t0, 3), round(rss, 1)))
            self._done.wait(SAMPLE_INTERVAL_S)

    def stop(self) -> list[tuple[float, float]]:
        self._done.set()
        self.join()
        return self.samples


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _push_ours(spec: dict[str, Any]) -> dict[str, Any]:
    from airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi import SqlToLinkedInCapiOperator

    operator = SqlToLinkedInCapiOperator(
        task_id="benchmark_push",
        sql=spec["query"],
        sql_conn_id="benchmark_sqlite",
        conversion_rule_id=spec["rule_id"],
        linkedin_capi_conn_id="benchmark_linkedin",
        **{"key_columns": ["crm_id"], "batch_size": 5_000, **spec.get("operator_kwargs", {})},
    )
    return operator.execute(context={})


def _push_baseline(spec: dict[str, Any]) -> dict[str, Any]:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from baseline_pandas_requests import push_with_pandas

    return push_with_pandas(spec["db_path"], spec["query"], spec["conn"], spec["rule_id"])


def _push_floor(spec: dict[str, Any]) -> dict[str, Any]:
    from floor_minimal_push import push_minimal

    return push_minimal(spec["db_path"], spec["query"], spec["conn"], spec["rule_id"])


_PUSHES = {"ours": _push_ours, "baseline": _push_baseline, "floor": _push_floor}


def _prepare_environment(spec: dict[str, Any]) -> None:
    # A private AIRFLOW_HOME keeps the benchmark from touching the user's ~/airflow.
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="linkedin-capi-bench-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
    os.environ["AIRFLOW_CONN_BENCHMARK_LINKEDIN"] = json.dumps(spec["conn"])
    os.environ["AIRFLOW_CONN_BENCHMARK_SQLITE"] = json.dumps({"conn_type": "sqlite", "host": spec["db_path"]})


def main() -> None:
    spec = json.loads(sys.argv[1])
    _prepare_environment(spec)
    push = _PUSHES[spec["impl"]]
    # Import cost is paid once per task, not per row: keep it out of the per-row figure.
    if spec["impl"] == "ours":
        import airflow_provider_linkedin_capi.transfers.sql_to_linkedin_capi  # noqa: F401
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import baseline_pandas_requests  # noqa: F401
        import floor_minimal_push  # noqa: F401
    startup_cpu = _cpu_seconds()
    sampler = RssSampler()
    sampler.start()
    cpu0, wall0 = _cpu_seconds(), time.perf_counter()
    if spec.get("profile"):
        import cProfile

        # CPU time, not wall time: waiting for the sandbox and other processes on the machine is not cost.
        profiler = cProfile.Profile(time.process_time)
        summary = profiler.runcall(push, spec)
        profiler.dump_stats(spec["profile"])
    else:
        summary = push(spec)
    wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0
    samples = sampler.stop()
    result = {
        "impl": spec["impl"],
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "startup_cpu_s": round(startup_cpu, 3),
        "process_wall_s": round(time.perf_counter() - _STARTED, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_samples": samples,
        "summary": {
            k: v
            for k, v in summary.items()
            if k in ("rows_read", "events_sent", "events_rejected", "in_flight_window", "batch_seconds")
        },
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
