"""The benchmark harness (`make bench`; `--smoke` for the tiny run the tests use).

One run, one Spark (local[2]), one reference service (a separate process, stateless HMAC tokens
so it is not the bottleneck, --latency-ms 20 to model a warm Lambda's round trip). For each
workload the systems alternate within each repetition; a warm-up round is discarded; each figure
is the median of the repetitions. Every repetition uses fresh values (a new prefix), so no system
starts with the answers already cached. With `--prefill N`, another job of N distinct values (each
seen twice, across tasks) fills the engine's cache before each of its runs, and values sent per
distinct value is reported: no value should be sent twice even then (issue 15).

Writes docs/benchmarks.json (all figures), docs/benchmarks.md's table (between markers) and
docs/benchmarks.png.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from doc_markers import write_between_markers  # noqa: E402

# name -> (rows, SQL expression of the value over `id`, with {p} for the repetition's prefix)
WORKLOADS = {
    "repeated": (2_000_000, "concat('{p}user', id % 20000, '@example.com')"),
    "unique": (300_000, "concat('{p}uniq', id, '@example.com')"),
    "zipf": (1_000_000, "concat('{p}zipf', CAST(pow(100000, rand(7)) AS INT), '@example.com')"),
    "1kb": (200_000, "concat('{p}', repeat('k', 1000), id % 20000)"),
}
SMOKE = {"repeated": 20_000, "unique": 3_000, "zipf": 10_000, "1kb": 2_000}
# `plain` writes the value itself as the "token": the cost of making and writing the rows, which
# no function can go below (the floor the ratios to the peers are bounded by).
SYSTEMS = ("tegridy", "pandas_udf", "sha2", "row_udf", "plain")
ROW_UDF_ROWS = 200  # seed 001's row UDF makes one call per row: measured on a small slice


def start_service(latency_ms: float) -> tuple[subprocess.Popen, str]:
    from tegridy_tokens.service.local import serve_in_subprocess

    # No per-principal rate limit: the systems are compared at their own speed.
    return serve_in_subprocess("--stateless", "--latency-ms", str(latency_ms), "--log-level", "WARNING",
                               "--max-values-per-second", "1e12",
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def service_stats(endpoint: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(endpoint + "/_tegridy/stats", timeout=10) as response:
        return json.load(response)


def heap_used_mb(spark) -> float:
    runtime = spark._jvm.java.lang.Runtime.getRuntime()
    spark._jvm.java.lang.System.gc()
    return (runtime.totalMemory() - runtime.freeMemory()) / 2**20


def spark_api(spark, resource: str):
    """This application's `resource` from Spark's REST API (the driver's UI port), e.g. `stages`."""
    import urllib.request

    url = f"{spark.sparkContext.uiWebUrl.rstrip('/')}/api/v1/applications/{spark.sparkContext.applicationId}/{resource}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def stage_cpu_seconds(spark) -> dict[int, float]:
    """Executor CPU seconds of each completed stage: the task threads' own CPU, which a loaded
    machine inflates far less than wall time (Python workers not included)."""
    return {s["stageId"]: s["executorCpuTime"] / 1e9 for s in spark_api(spark, "stages?status=complete")}


def new_stages_cpu_seconds(spark, before: dict[int, float], stages: int) -> float:
    """CPU seconds of the stages completed since `before`, once the UI has heard of `stages` of them."""
    deadline = time.monotonic() + 10
    while True:
        now = stage_cpu_seconds(spark)
        new = [cpu for stage, cpu in now.items() if stage not in before]
        if len(new) >= stages or time.monotonic() > deadline:
            return sum(new)
        time.sleep(0.05)


def prefill_cache(spark, distinct: int, prefix: str) -> None:
    """Another job fills the engine's cache with its own tokens: `distinct` values, each twice, in 4 tasks."""
    from pyspark.sql import functions as F

    fill = spark.range(0, 2 * distinct, 1, 4).select(F.expr(f"tegridy_tokenize_hp(concat('{prefix}fill', id % {distinct}))"))
    fill.write.format("noop").mode("overwrite").save()


def run_once(spark, system: str, column, rows: int, endpoint: str, peers: dict, prefill: int = 0,
             prefix: str = "") -> dict:
    """Tokenizes `column` of `rows` rows with `system`, writing to Spark's noop sink."""
    import tegridy_tokens
    from pyspark.sql import functions as F

    # The sink gets id, value and token, as a real job keeps its other columns beside the token.
    frame = spark.range(0, rows, 1, 4).select("id", column.alias("v"))
    distinct = None
    if system == "tegridy":
        distinct = frame.agg(F.countDistinct("v")).first()[0]  # for values sent per distinct value
        if prefill:
            prefill_cache(spark, prefill, prefix)
    if system == "tegridy":
        out = frame.select("id", "v", F.expr("tegridy_tokenize_hp(v)").alias("t"))
    elif system == "sha2":
        out = frame.select("id", "v", F.sha2("v", 256).alias("t"))
    elif system == "plain":
        out = frame.select("id", "v", F.col("v").alias("t"))
    else:
        out = frame.select("id", "v", peers[system]("v").alias("t"))
    tegridy = system == "tegridy"
    before_service = service_stats(endpoint)
    before_stages = stage_cpu_seconds(spark)
    with tegridy_tokens.measure(spark) as measured:  # the engine's own figures for this run only
        started = time.perf_counter()
        out.write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - started
    engine, service = measured.metrics, service_stats(endpoint)
    jvm_only = system in ("tegridy", "sha2", "plain")  # the others work in Python processes, which this does not see
    return {
        "seconds": seconds,
        "task_cpu_s": new_stages_cpu_seconds(spark, before_stages, 1) if jvm_only else None,
        "rows_per_s": rows / seconds,
        "invocations": service["invocations"] - before_service["invocations"],
        "values_sent": service["values_received"] - before_service["values_received"],
        "distinct": distinct,
        "values_sent_per_distinct": (service["values_received"] - before_service["values_received"]) / distinct
        if distinct else None,
        "bytes_sent": engine["bytes_sent"] if tegridy else None,
        "bytes_received": engine["bytes_received"] if tegridy else None,
        "retries": engine["retries"] if tegridy else None,
        "latency_ms_p95": engine["latency_ms_p95"] if tegridy else None,
        "heap_used_mb": heap_used_mb(spark),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition (used by the tests)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--out", default=str(REPO / "docs"))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help="a subset skips the table and the plot (they compare all four)")
    parser.add_argument("--prefill", type=int, default=0, metavar="N",
                        help="before each tegridy run, another job fills the cache with N distinct values' tokens")
    parser.add_argument("--replot", action="store_true", help="redraw the table and plot from benchmarks.json only")
    args = parser.parse_args()
    if args.replot:
        results = json.loads((Path(args.out) / "benchmarks.json").read_text())
        write_table(results, Path(args.out) / "benchmarks.md")
        write_targets(results, Path(args.out))
        plot(results, Path(args.out) / "benchmarks.png")
        return 0
    reps = 1 if args.smoke else args.reps
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    import peers as peer_module
    import tegridy_tokens

    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers need this venv's pandas, pyarrow, boto3
    service, endpoint = start_service(args.latency_ms)
    function_name = "tegridy-tokens"
    spark = tegridy_tokens.configure_spark(
        SparkSession.builder.master("local[2]").appName("tegridy-bench")
        # The UI's REST API gives each stage's task CPU time; no progress bar in the output.
        .config("spark.ui.port", "0").config("spark.ui.showConsoleProgress", "false").config("spark.driver.memory", "4g")
        .config("spark.sql.shuffle.partitions", "4"),
        function_name=function_name, endpoint=endpoint).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.addPyFile(str(HERE / "peers.py"))
    peers = {"pandas_udf": peer_module.pandas_peer_udf(endpoint, function_name),
             "row_udf": peer_module.seed001_row_udf(endpoint, function_name)}
    results: dict = {"machine": machine(), "latency_ms": args.latency_ms, "reps": reps, "workloads": {}}
    try:
        # First, while the heap holds nothing else that a GC could free between the two readings.
        results["cache_footprint"] = cache_footprint(spark, 20_000 if args.smoke else 1_000_000)
        for workload in args.workloads.split(","):
            rows, template = WORKLOADS[workload]
            rows = SMOKE[workload] if args.smoke else rows
            systems = args.systems.split(",")
            runs: dict = {s: [] for s in systems}
            for rep in range(reps + 1):  # rep 0 is the warm-up, discarded
                for system in systems:
                    n = min(rows, 20 if args.smoke else ROW_UDF_ROWS) if system == "row_udf" else rows
                    column = F.expr(template.format(p=f"w{workload}r{rep}{system[:2]}-"))
                    measured = run_once(spark, system, column, n, endpoint, peers, args.prefill, f"w{workload}r{rep}")
                    measured["rows"] = n
                    if rep > 0:
                        runs[system].append(measured)
                    print(f"{workload:9} rep {rep} {system:10} {n:>9} rows {measured['seconds']:8.2f} s "
                          f"{measured['rows_per_s']:>12,.0f} rows/s  invocations {measured['invocations']}"
                          + (f"  values sent {measured['values_sent']} / distinct {measured['distinct']}"
                             if measured.get("distinct") else ""), flush=True)
            results["workloads"][workload] = {s: median_of(r) for s, r in runs.items()}
    finally:
        spark.stop()
        service.send_signal(signal.SIGTERM)
        service.wait(30)

    results["prefill"] = args.prefill
    (out_dir / "benchmarks.json").write_text(json.dumps(results, indent=2))
    if set(SYSTEMS) <= set(args.systems.split(",")):
        write_table(results, out_dir / "benchmarks.md")
        write_targets(results, out_dir)
        plot(results, out_dir / "benchmarks.png")
    print(json.dumps(summary(results), indent=2))
    return 0


def median_of(runs: list) -> dict:
    medians = {}
    for key in runs[0]:
        values = [r[key] for r in runs if r.get(key) is not None]
        medians[key] = statistics.median(values) if values else None
    return medians


def cache_footprint(spark, entries: int) -> dict:
    """Heap held by the engine's own token cache at `entries` entries (Caffeine, as configured)."""
    jvm = spark._jvm
    probe = jvm.com.tegridy.spark.bench.CacheFootprint
    return json.loads(probe.measure(entries))


def summary(results: dict) -> dict:
    out = {}
    for workload, systems in results["workloads"].items():
        t = systems["tegridy"]
        out[workload] = {"tegridy_rows_per_s": round(t["rows_per_s"])}
        for peer, name, digits in (("sha2", "tegridy_vs_sha2_time", 2), ("pandas_udf", "tegridy_vs_pandas_speedup", 2),
                                   ("row_udf", "tegridy_vs_row_udf_per_row", 1)):
            if peer in systems:
                ratio = systems[peer]["rows_per_s"] / t["rows_per_s"] if peer == "sha2" else t["rows_per_s"] / systems[peer]["rows_per_s"]
                out[workload][name] = round(ratio, digits)
        out[workload].update(invocations=t["invocations"], values_sent=t["values_sent"])
        if t.get("values_sent_per_distinct") is not None:
            out[workload].update(distinct=t["distinct"], values_sent_per_distinct=round(t["values_sent_per_distinct"], 3))
    out["cache_footprint"] = results.get("cache_footprint")
    return out


def machine() -> dict:
    import platform

    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "java": subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]}


def write_table(results: dict, path: Path) -> None:
    lines = ["| workload | system | rows | rows/s | time vs sha2 | task CPU s | invocations | values sent | bytes sent | bytes received | p95 invocation ms | heap MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for workload, systems in results["workloads"].items():
        sha2 = systems["sha2"]["rows_per_s"]
        for system, r in systems.items():
            fmt = lambda v, f="{:,.0f}": "-" if v is None else f.format(v)  # noqa: E731
            lines.append(f"| {workload} | {system} | {r['rows']:,.0f} | {r['rows_per_s']:,.0f} | {sha2 / r['rows_per_s']:.2f}× | "
                         f"{fmt(r.get('task_cpu_s'), '{:.2f}')} | {fmt(r['invocations'])} | {fmt(r['values_sent'])} | {fmt(r['bytes_sent'])} | {fmt(r.get('bytes_received'))} | "
                         f"{fmt(r['latency_ms_p95'], '{:.1f}')} | {r['heap_used_mb']:.0f} |")
    write_between_markers(path, "<!-- bench:table:begin -->", "<!-- bench:table:end -->", "\n".join(lines),
                          missing="" if path.exists() else "# Benchmarks")


def targets(results: dict, fleet: dict | None) -> list[tuple[str, str, str, bool | None]]:
    """Issue 15's targets against this run: (measure, target, measured, met; None = not measured)."""
    w = results["workloads"]
    time_vs = lambda workload, peer: w[workload][peer]["rows_per_s"] / w[workload]["tegridy"]["rows_per_s"]  # noqa: E731
    out = []
    sha2 = time_vs("repeated", "sha2")  # sha2's rows/s over ours: our time over sha2's
    out.append(("repeated (2M rows, 20K distinct): tegridy time / sha2 time", "≤ 1.3", f"{sha2:.2f}", sha2 <= 1.3))
    cpu = {system: w["repeated"][system].get("task_cpu_s") for system in ("tegridy", "sha2")}
    if all(cpu.values()):  # evidence beside the target: the task threads' own work per row
        out.append(("repeated: tegridy task CPU / sha2 task CPU (JVM task threads; not a target)", "-",
                    f"{cpu['tegridy'] / cpu['sha2']:.2f} ({cpu['tegridy']:.2f} s / {cpu['sha2']:.2f} s)", None))
    for workload, goal in (("repeated", 10), ("unique", 3)):
        speedup = 1 / time_vs(workload, "pandas_udf")
        out.append((f"{workload}: pandas_udf peer time / tegridy time", f"≥ {goal}", f"{speedup:.2f}", speedup >= goal))
        if workload == "repeated" and "plain" in w[workload]:
            floor = w[workload]["plain"]["rows_per_s"] / w[workload]["pandas_udf"]["rows_per_s"]
            out.append(("repeated: pandas_udf peer time / no-function time (the most any function could reach; not a target)",
                        "-", f"{floor:.2f}", None))
    if fleet:
        out.append(("unique against the CPU-free fake fleet: throughput / Little's-law bound", "≥ 0.8",
                    f"{fleet['ratio_to_bound']:.2f} ({fleet['median_values_per_s']:,} of {fleet['littles_law_bound_values_per_s']:,} values/s)",
                    fleet["ratio_to_bound"] >= 0.8))
    sent = {name: t["tegridy"].get("values_sent_per_distinct") for name, t in w.items()}
    if all(v is not None for v in sent.values()):
        worst = max(sent.values())
        out.append((f"values sent / distinct, all workloads, cache pre-filled with {results.get('prefill', 0):,} other tokens",
                    "≤ 1.05", ", ".join(f"{name} {v:.3f}" for name, v in sent.items()), worst <= 1.05))
    footprint = results.get("cache_footprint") or {}
    overhead = footprint.get("overhead_bytes_per_entry")
    out.append(("heap per cached token beyond the key's and token's own bytes", "≤ 150 B",
                "-" if overhead is None else f"{overhead:.0f} B", None if overhead is None else overhead <= 150))
    return out


def write_targets(results: dict, out_dir: Path) -> None:
    fleet_path = out_dir / "fake_fleet.json"
    fleet = json.loads(fleet_path.read_text()) if fleet_path.exists() else None
    lines = ["| measure | target | measured | verdict |", "|---|---|---|---|"]
    for measure, goal, measured, met in targets(results, fleet):
        lines.append(f"| {measure} | {goal} | {measured} | {'-' if met is None else 'met' if met else '**missed**'} |")
    write_between_markers(out_dir / "benchmarks.md", "<!-- bench:targets:begin -->", "<!-- bench:targets:end -->",
                          "\n".join(lines))


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = list(results["workloads"])
    systems = ["tegridy", "sha2", "pandas_udf", "row_udf"]
    labels = {"tegridy": "tegridy_tokenize_hp", "sha2": "native sha2 (ceiling)", "pandas_udf": "pandas_udf peer",
              "row_udf": "seed-001 row UDF"}
    fig, ax = plt.subplots(figsize=(10, 5))
    width = 0.2
    for i, system in enumerate(systems):
        values = [results["workloads"][w][system]["rows_per_s"] for w in workloads]
        bars = ax.bar([x + (i - 1.5) * width for x in range(len(workloads))], values, width, label=labels[system])
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7, rotation=90, padding=2)
    ax.set_yscale("log")
    top = max(r["rows_per_s"] for systems_of in results["workloads"].values() for r in systems_of.values())
    ax.set_ylim(10, top * 30)  # room for the bar labels and the legend
    ax.set_ylabel("rows per second (log scale, higher is better)")
    ax.set_xticks(range(len(workloads)), workloads)
    ax.set_title(f"Tokenizing one column, local[2], service latency {results['latency_ms']:.0f} ms, median of {results['reps']}")
    ax.legend(loc="upper right", fontsize=8, ncols=4)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
