"""The scale runs (issue 15 §4; `make bench-scale`): steadiness over 50M rows, and two executors.

`--rows 50000000` (default) runs the repeated and the zipf workloads through tegridy_tokenize_hp on
local[2], 100 tasks of 500K rows, into Spark's noop sink (id + value + token). A watcher thread
polls Spark's status tracker and, each time another 5M rows' worth of tasks has finished, records the
slice's rows/s and the heap after a full GC (the live heap: what a leak or an unbounded buffer would
grow). Steady means: no slice slower than the first slices after warm-up, and a flat live heap.

`--local-cluster` runs the repeated workload on `local-cluster[2,1,2048]` (two executor JVMs) and
reports each executor's tasks, rows, task time and peak heap from Spark's REST API.

Figures go to docs/benchmarks_scale.json and the "Scale" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from doc_markers import write_between_markers  # noqa: E402
from run import machine, service_stats, spark_api, start_service  # noqa: E402

TASKS_PER_SLICE = 10
WORKLOADS = {
    "repeated": "concat('{p}user', id % 20000, '@example.com')",
    "zipf": "concat('{p}zipf', CAST(pow(100000, rand(7)) AS INT), '@example.com')",
}


def live_heap_mb(jvm) -> float:
    """The heap after a full collection: what is still referenced."""
    jvm.java.lang.System.gc()
    runtime = jvm.java.lang.Runtime.getRuntime()
    return (runtime.totalMemory() - runtime.freeMemory()) / 2**20


class SliceWatcher(threading.Thread):
    """Records, for each 5M rows of finished tasks, the slice's rows/s and the live heap after it."""

    def __init__(self, spark, total_tasks: int, slice_rows: int):
        super().__init__(daemon=True)
        self.spark, self.total_tasks, self.slice_rows = spark, total_tasks, slice_rows
        self.tasks_per_slice = TASKS_PER_SLICE
        self.slices: list[dict] = []
        self.done = threading.Event()
        self.stages: set[int] = set()

    def completed_tasks(self) -> int:
        tracker = self.spark.sparkContext.statusTracker()
        self.stages.update(tracker.getActiveStageIds())  # remembered: a finished stage is no longer active
        done = 0
        for stage_id in self.stages:
            info = tracker.getStageInfo(stage_id)
            if info is not None:
                done += info.numCompletedTasks
        return done

    def run(self) -> None:
        jvm = self.spark.sparkContext._jvm
        started = last = time.perf_counter()
        while len(self.slices) * self.tasks_per_slice < self.total_tasks:
            finished = self.done.is_set()  # one more poll after the job ends, for the last slice
            reached = self.completed_tasks() // self.tasks_per_slice
            if reached > len(self.slices):
                now = time.perf_counter()
                # Several slices may end between two polls (rare at 5M rows): share the time.
                count = reached - len(self.slices)
                for _ in range(count):
                    self.slices.append({"slice": len(self.slices) + 1,
                                        "rows_per_s": self.slice_rows * count / (now - last),
                                        "ended_s": now - started})
                heap = live_heap_mb(jvm)
                for ended in self.slices[-count:]:
                    ended["live_heap_mb"] = heap
                last = time.perf_counter()  # the GC's pause is not the next slice's
            if finished:
                break
            time.sleep(0.2)


def run_long(spark, workload: str, rows: int, slice_rows: int, endpoint: str) -> dict:
    import tegridy_tokens

    tasks = rows // slice_rows * TASKS_PER_SLICE
    frame = spark.range(0, rows, 1, tasks).selectExpr("id", WORKLOADS[workload].format(p=f"s{workload}-") + " AS v")
    out = frame.selectExpr("id", "v", "tegridy_tokenize_hp(v) AS t")
    watcher = SliceWatcher(spark, tasks, slice_rows)
    before = service_stats(endpoint)
    with tegridy_tokens.measure(spark) as measured:
        watcher.start()
        started = time.perf_counter()
        out.write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - started
        watcher.done.set()
        watcher.join()
    after = service_stats(endpoint)
    distinct = frame.selectExpr("count(DISTINCT v)").first()[0]  # after the clock: for values sent per distinct
    steady = watcher.slices[2:] or watcher.slices  # the first two slices warm the JIT, the cache and the service
    rates = [s["rows_per_s"] for s in steady] or [float("nan")]
    heaps = [s["live_heap_mb"] for s in steady if "live_heap_mb" in s] or [0.0]
    return {
        "rows": rows, "slice_rows": slice_rows, "seconds": seconds, "rows_per_s": rows / seconds, "slices": watcher.slices,
        "steady_min_over_max_rate": min(rates) / max(rates),
        "steady_last_over_first_rate": rates[-1] / rates[0],
        "steady_live_heap_mb_min": min(heaps), "steady_live_heap_mb_max": max(heaps),
        "values_sent": after["values_received"] - before["values_received"], "distinct": distinct,
        "values_sent_per_distinct": (after["values_received"] - before["values_received"]) / distinct,
        "invocations": after["invocations"] - before["invocations"],
        "engine": {k: measured.metrics[k] for k in ("rows", "cache_hits", "distinct_values", "values_sent")},
    }


def executors(spark, task_rows: int) -> list[dict]:
    """Per-executor figures from Spark's REST API."""
    out = []
    for executor in spark_api(spark, "allexecutors"):
        if executor["id"] == "driver":
            continue
        peak = executor.get("peakMemoryMetrics") or {}
        out.append({"executor": executor["id"], "tasks": executor["completedTasks"],
                    "rows": executor["completedTasks"] * task_rows,
                    "task_time_s": executor["totalDuration"] / 1000,
                    "rows_per_task_s": executor["completedTasks"] * task_rows / max(executor["totalDuration"] / 1000, 1e-9),
                    "peak_heap_mb": peak.get("JVMHeapMemory", 0) / 2**20})
    return out


def measured_only(after: list[dict], before: list[dict], task_rows: int) -> list[dict]:
    """The measured run's share of each executor's cumulative figures (peak heap stays cumulative)."""
    earlier = {e["executor"]: e for e in before}
    out = []
    for executor in after:
        old = earlier.get(executor["executor"], {"tasks": 0, "task_time_s": 0.0})
        tasks, task_time = executor["tasks"] - old["tasks"], executor["task_time_s"] - old["task_time_s"]
        out.append(dict(executor, tasks=tasks, rows=tasks * task_rows, task_time_s=task_time,
                        rows_per_task_s=tasks * task_rows / max(task_time, 1e-9)))
    return out


def run_cluster(rows: int, task_rows: int, endpoint: str) -> dict:
    from pyspark.sql import SparkSession

    import tegridy_tokens

    spark = tegridy_tokens.configure_spark(
        SparkSession.builder.master("local-cluster[2,1,2048]").appName("tegridy-scale-cluster")
        .config("spark.executor.memory", "2g").config("spark.driver.memory", "2g")
        .config("spark.ui.enabled", "true").config("spark.ui.port", "0").config("spark.ui.showConsoleProgress", "false"),  # the REST API is how per-executor figures are read
        function_name="tegridy-tokens", endpoint=endpoint).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        tasks = rows // task_rows

        def job(prefix: str) -> None:
            spark.range(0, rows, 1, tasks).selectExpr("id", WORKLOADS["repeated"].format(p=prefix) + " AS v") \
                .selectExpr("id", "v", "tegridy_tokenize_hp(v) AS t").write.format("noop").mode("overwrite").save()

        job("warm-")  # JIT, connections; other values, so the measured run sends its own
        before_executors, before = executors(spark, task_rows), service_stats(endpoint)
        started = time.perf_counter()
        job("c-")
        seconds = time.perf_counter() - started
        after = service_stats(endpoint)
        time.sleep(12)  # executors report peak memory with their heartbeats (every 10 s)
        return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
                "values_sent": after["values_received"] - before["values_received"],
                "executors": measured_only(executors(spark, task_rows), before_executors, task_rows),
                "note": "values sent: each executor has its own cache, so up to 2 x 20,000"}
    finally:
        spark.stop()


def write_section(results: dict, path: Path) -> None:
    lines = []
    for workload, run in results.get("long", {}).items():
        lines.append(f"**{workload}**, {run['rows']:,} rows: {run['rows_per_s']:,.0f} rows/s overall; after warm-up the "
                     f"slowest slice ran at {run['steady_min_over_max_rate']:.2f}× the fastest, the last at "
                     f"{run['steady_last_over_first_rate']:.2f}× the first after warm-up; live heap {run['steady_live_heap_mb_min']:.0f}–"
                     f"{run['steady_live_heap_mb_max']:.0f} MB; {run['values_sent']:,} values sent for {run['distinct']:,} distinct "
                     f"({run['values_sent_per_distinct']:.3f} per distinct) with `cache.maxEntries` {results['cache_max_entries']:,}.")
        lines.append("")
        lines.append(f"| slice ({run['slice_rows']:,} rows) | rows/s | live heap after (MB) |")
        lines.append("|---|---|---|")
        for s in run["slices"]:
            lines.append(f"| {s['slice']} | {s['rows_per_s']:,.0f} | {s.get('live_heap_mb', float('nan')):.0f} |")
        lines.append("")
    cluster = results.get("cluster")
    if cluster:
        lines.append(f"**local-cluster[2,1,2048]**, repeated, {cluster['rows']:,} rows: {cluster['rows_per_s']:,.0f} rows/s, "
                     f"{cluster['values_sent']:,} values sent.")
        lines.append("")
        lines.append("| executor | tasks | rows | task time (s) | rows per task-second | peak heap (MB) |")
        lines.append("|---|---|---|---|---|---|")
        for e in cluster["executors"]:
            lines.append(f"| {e['executor']} | {e['tasks']} | {e['rows']:,} | {e['task_time_s']:.1f} | "
                         f"{e['rows_per_task_s']:,.0f} | {e['peak_heap_mb']:.0f} |")
    write_between_markers(path, "<!-- scale:begin -->", "<!-- scale:end -->", "\n".join(lines),
                          missing="## Scale (issue 15 §4: `make bench-scale`)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000_000, help="rows of each long run (a multiple of --slice-rows)")
    parser.add_argument("--slice-rows", type=int, default=5_000_000, help="rows per reported slice (10 tasks)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--local-cluster", action="store_true", help="also run two executors (local-cluster)")
    parser.add_argument("--cluster-rows", type=int, default=10_000_000)
    parser.add_argument("--cache-entries", type=int, default=100_000, help="spark.tegridy.cache.maxEntries")
    parser.add_argument("--out", default=str(REPO / "docs"))
    args = parser.parse_args()
    if args.rows % args.slice_rows or args.slice_rows % TASKS_PER_SLICE:
        parser.error(f"--rows must be a multiple of --slice-rows, and --slice-rows of {TASKS_PER_SLICE}")

    from pyspark.sql import SparkSession

    import tegridy_tokens

    os.environ["PYSPARK_PYTHON"] = sys.executable
    service, endpoint = start_service(20)
    results: dict = {"machine": machine(), "latency_ms": 20, "cache_max_entries": args.cache_entries, "long": {}}
    try:
        if args.workloads:
            spark = tegridy_tokens.configure_spark(
                SparkSession.builder.master("local[2]").appName("tegridy-scale")
                .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").config("spark.driver.memory", "4g"),
                function_name="tegridy-tokens", endpoint=endpoint, cache_max_entries=args.cache_entries).getOrCreate()
            spark.sparkContext.setLogLevel("ERROR")
            try:
                for workload in args.workloads.split(","):
                    run = run_long(spark, workload, args.rows, args.slice_rows, endpoint)
                    results["long"][workload] = run
                    print(f"{workload}: {run['rows_per_s']:,.0f} rows/s; slices "
                          + ", ".join(f"{s['rows_per_s']:,.0f}" for s in run["slices"]), flush=True)
            finally:
                spark.stop()
        if args.local_cluster:
            results["cluster"] = run_cluster(args.cluster_rows, 500_000, endpoint)
            print(json.dumps(results["cluster"], indent=1), flush=True)
    finally:
        service.terminate()
    out = Path(args.out)
    (out / "benchmarks_scale.json").write_text(json.dumps(results, indent=1) + "\n")
    write_section(results, out / "benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
