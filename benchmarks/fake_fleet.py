"""The unique workload against a fleet that costs (almost) no CPU (`make bench`, issue 15 §3).

The reference service shares the machine's cores with Spark, so the unique workload measured
against it (run.py) says as much about the service as about the client. Here the fleet is
`com.tegridy.spark.bench.FakeFleet`, in the driver's JVM: each invocation is answered by a sleeping
thread after a fixed latency, with tokens derived from the request bytes without a JSON library.
The client's ceiling is then the fleet's Little's-law bound, in-flight invocations x values per
invocation / latency = maxInFlight x batch.maxRows / latency (one executor in local[N]).

Reported per run: seconds, values/s, the bound, their ratio, invocations and values sent, the
driver JVM's CPU seconds, the fleet's share of them (its threads run in the same JVM), the client's
CPU per value without it, and the machine's load average. Writes docs/fake_fleet.json and the table
between the fake-fleet markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
START, END = "<!-- fake-fleet:start -->", "<!-- fake-fleet:end -->"
UNIQUE = "concat('{p}uniq', id, '@example.com')"  # run.py's unique workload


sys.path.insert(0, str(HERE))
from doc_markers import write_between_markers  # noqa: E402
from service_throughput import cpu_seconds  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def jvm_cpu_seconds(spark) -> float:
    return cpu_seconds([spark._jvm.java.lang.ProcessHandle.current().pid()])


def run_once(spark, fleet, rows: int, prefix: str) -> dict:
    from pyspark.sql import functions as F

    frame = spark.range(0, rows, 1, 4).select(F.expr(UNIQUE.format(p=prefix)).alias("v"))
    out = frame.select(F.expr("tegridy_tokenize_hp(v)").alias("t"))
    invocations, values, fleet_cpu = fleet.invocations(), fleet.valuesReceived(), fleet.cpuNanos()
    cpu, load = jvm_cpu_seconds(spark), os.getloadavg()[0]
    started = time.perf_counter()
    out.write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - started
    driver_cpu = jvm_cpu_seconds(spark) - cpu
    fleet_cpu = (fleet.cpuNanos() - fleet_cpu) / 1e9  # the fleet's own threads, in the same JVM
    return {"rows": rows, "seconds": round(seconds, 3), "values_per_s": round(rows / seconds),
            "invocations": fleet.invocations() - invocations, "values_sent": fleet.valuesReceived() - values,
            "driver_cpu_s": round(driver_cpu, 2), "fleet_cpu_s": round(fleet_cpu, 2),
            "client_cpu_us_per_value": round((driver_cpu - fleet_cpu) / rows * 1e6, 2),
            "load_average_1m_before": round(load, 2)}


def measure(rows: int, reps: int, latency_ms: float, max_in_flight: int, max_rows: int, cores: int,
            jfr: Path | None = None, warmups: int = 3) -> dict:
    from pyspark.sql import SparkSession

    import tegridy_tokens

    port = free_port()
    builder = (SparkSession.builder.master(f"local[{cores}]").appName("tegridy-fake-fleet")
               .config("spark.ui.enabled", "false").config("spark.driver.memory", "2g")
               .config("spark.tegridy.maxInFlight", str(max_in_flight))
               .config("spark.tegridy.batch.maxRows", str(max_rows)))
    if jfr is not None:  # written when this process's JVM exits
        builder = builder.config("spark.driver.extraJavaOptions",
                                 f"-XX:StartFlightRecording=filename={jfr},settings=profile,dumponexit=true")
    spark = tegridy_tokens.configure_spark(builder, function_name="tegridy-tokens",
                                           endpoint=f"http://127.0.0.1:{port}").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    # Threads: one per invocation it can hold, with room; they sleep, they do not spin.
    fleet = spark._jvm.com.tegridy.spark.bench.FakeFleet.start(port, int(latency_ms), 4 * max_in_flight)
    try:
        runs = []
        # The first `warmups` runs, full size, are discarded: the JIT compiles the SDK, the HTTP
        # client, Jackson and our lookup for millions of values (its threads took 2-3.6 µs of CPU a
        # value after one 50K-row warm-up), a one-off cost per executor JVM, not the client's pace.
        for rep in range(warmups + reps):
            measured = run_once(spark, fleet, rows, f"fleet{time.time_ns()}r{rep}-")
            print(json.dumps(dict(measured, warmup=rep < warmups)), flush=True)
            if rep >= warmups:
                runs.append(measured)
    finally:
        fleet.stop()
        spark.stop()
    bound = max_in_flight * max_rows / (latency_ms / 1000.0)
    median = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return {"rows": rows, "reps": reps, "warmups": warmups, "latency_ms": latency_ms, "max_in_flight": max_in_flight,
            "batch_max_rows": max_rows, "spark_cores": cores, "cpus": os.cpu_count(),
            "littles_law_bound_values_per_s": round(bound), "median": median,
            "ratio_to_bound": round(median["values_per_s"] / bound, 3),
            "values_per_s_all": [r["values_per_s"] for r in runs],
            "median_values_per_s": round(statistics.median(r["values_per_s"] for r in runs))}


def table(result: dict) -> str:
    """The median run against the bound; "CPU ceiling" is what the driver's CPU per value allows on
    all of the machine's cores, as a share of the bound (below 1: the client's CPU bounds it).
    "client µs per value" is the driver JVM's CPU without the fake fleet's own threads."""
    m = result["median"]
    per_cpu_s = m["rows"] / m["driver_cpu_s"]
    ceiling = result["cpus"] * per_cpu_s / result["littles_law_bound_values_per_s"]
    return "\n".join([
        "| rows | latency | maxInFlight × maxRows | Little's-law bound | values/s (median) | ratio | target "
        "| values sent | driver CPU s | of it the fleet's | client µs CPU per value | values per driver CPU s "
        "| CPU ceiling on all cores | load (1 min) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {result['rows']:,} | {result['latency_ms']:.0f} ms | {result['max_in_flight']} × {result['batch_max_rows']} "
        f"| {result['littles_law_bound_values_per_s']:,} | {m['values_per_s']:,} | {result['ratio_to_bound']} | ≥ 0.8 "
        f"| {m['values_sent']:,} | {m['driver_cpu_s']} | {m['fleet_cpu_s']} | {m['client_cpu_us_per_value']} "
        f"| {per_cpu_s:,.0f} | {ceiling:.2f} of the bound "
        f"| {m['load_average_1m_before']} |"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmups", type=int, default=3, help="full-size runs discarded first (JIT warm-up)")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--max-in-flight", type=int, default=16)
    parser.add_argument("--max-rows", type=int, default=500)
    parser.add_argument("--cores", type=int, default=2, help="local[N]")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    parser.add_argument("--jfr", type=Path, help="record the run with Java Flight Recorder into this file (read it "
                        "with benchmarks/jfr_profile.py --summarize FILE once this command has exited)")
    args = parser.parse_args()
    result = measure(args.rows, args.reps, args.latency_ms, args.max_in_flight, args.max_rows, args.cores, args.jfr, args.warmups)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fake_fleet.json").write_text(json.dumps(result, indent=2) + "\n")
    write_between_markers(args.out / "benchmarks.md", START, END, table(result))
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
