"""The ingestion benchmark (`make bench-ingest`; `--smoke` for the tiny run the tests use):
`ingest run` (the claim, the Spark job with the PII columns tokenized, the commit and the state
moves) against a plain Spark NDJSON -> Parquet conversion of the same files
(`spark.read.json(...).write.parquet(...)`), side by side in one Spark session. The data: 20
NDJSON files of 10,000 events (200K lines, about 60 MB), three PII columns (email, ssn, phone),
each about 5% distinct.

One Spark (local[2], as the other benchmarks), the reference service as its own process
(stateless HMAC tokens, --latency-ms 20 for a warm Lambda's round trip). A small warm-up set
runs first and is discarded; then each repetition gets a data set of its own (fresh values, so
the token cache starts cold), on which both run, in alternating order. `--profile` adds, per
repetition, the pipeline's job without tokenization and the time of each Spark job of the
ingest run (from Spark's REST API), to show where ingest's extra time goes. Writes
docs/benchmarks_ingest.json and the table in docs/benchmarks.md between the ingest markers.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from doc_markers import write_between_markers  # noqa: E402
BEGIN, END = "<!-- bench:ingest:begin -->", "<!-- bench:ingest:end -->"
PII = {"email": "default", "ssn": "default", "phone": "default"}
DATE = "2026-01-15"


def generate(folder: Path, files: int, rows_per_file: int, prefix: str, seed: int) -> int:
    """NDJSON files of realistic events; the PII columns draw from pools of 5% of the rows."""
    rng = random.Random(seed)
    total = files * rows_per_file
    pool = max(1, total // 20)
    emails = [f"{prefix}user{i}@example.com" for i in range(pool)]
    ssns = [f"{prefix}{i // 10000:03d}-{i // 100 % 100:02d}-{i % 10000:04d}" for i in range(pool)]
    phones = [f"+1-555-{prefix}{i:07d}" for i in range(pool)]
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        lines = []
        for r in range(rows_per_file):
            k = rng.randrange(pool)
            lines.append(json.dumps({
                "event_id": f"{f:03d}-{r:06d}", "ts": f"2026-01-15T{r % 24:02d}:{r % 60:02d}:{f % 60:02d}Z",
                "event_type": rng.choice(("view", "click", "purchase", "signup")), "amount": round(rng.random() * 500, 2),
                "email": emails[k], "ssn": ssns[(k * 7) % pool], "phone": phones[(k * 13) % pool],
                "device": {"os": rng.choice(("ios", "android", "web")), "version": f"{rng.randrange(1, 20)}.{rng.randrange(10)}"},
                "items": [{"sku": f"sku-{rng.randrange(5000)}", "qty": rng.randrange(1, 5)} for _ in range(rng.randrange(1, 3))],
                "note": None if r % 3 else "returning customer, prefers e-mail"}))
        (folder / f"2026-01-15-file{f:03d}.ndjson").write_text("\n".join(lines) + "\n")
    return total


def run_ingest(spark, landing: Path, work: Path, endpoint: str) -> dict:
    """`ingest track` and `ingest manifest --flush` (timed apart), then `ingest run`, timed: one
    manifest of every file, into a fresh output and state."""
    import tegridy_tokens
    from run import service_stats
    from tegridy_tokens.ingest.commands import Context, ingest
    from tegridy_tokens.ingest.config import parse_config

    out = work / "ingest-out"
    shutil.rmtree(out, ignore_errors=True)
    config = parse_config({"ingest": {"landing": str(landing), "output": str(out), "pii_columns": PII,
                                      "expected_file_size_mb": 3.0, "size_tolerance_percent": 99}})
    before = service_stats(endpoint)
    with Context(config, spark=spark) as context:
        started = time.perf_counter()
        ingest(context, "track")
        ingest(context, "manifest", flush=True)
        prepared = time.perf_counter() - started
        with tegridy_tokens.measure(spark) as measured:
            started = time.perf_counter()
            result, status = ingest(context, "run")
            seconds = time.perf_counter() - started
    assert status == 0 and result["completed"] == 1, result
    after = service_stats(endpoint)
    return {"job": "ingest", "seconds": seconds, "track_and_manifest_seconds": prepared, "rows": result["rows"],
            "invocations": after["invocations"] - before["invocations"],
            "values_sent": after["values_received"] - before["values_received"],
            "cache_hits": measured.metrics["cache_hits"], "output_files": result["manifests"][0]["output_files"]}


def run_plain(spark, landing: Path, work: Path) -> dict:
    """The plain conversion: Spark's own NDJSON reader (schema inference, then the parse) and a
    snappy Parquet write of every column as read."""
    out = work / "plain-out"
    shutil.rmtree(out, ignore_errors=True)
    inputs = [p.as_uri() for p in sorted(landing.rglob("*.ndjson"))]
    started = time.perf_counter()
    spark.read.json(inputs).write.mode("overwrite").option("compression", "snappy").parquet(out.as_uri())
    seconds = time.perf_counter() - started
    return {"job": "plain", "seconds": seconds, "rows": spark.read.parquet(out.as_uri()).count(),
            "invocations": 0, "values_sent": 0}


def run_untokenized(spark, landing: Path, work: Path) -> dict:
    """The pipeline's Spark job alone, without tokenization (for the profile)."""
    from tegridy_tokens.ingest.convert import convert

    inputs = sorted(landing.rglob("*.ndjson"))
    started = time.perf_counter()
    result = convert(spark, [p.as_uri() for p in inputs], (work / "untokenized-out").as_uri(),
                     "2026-01-15T00:00:00+00:00", PII, sum(p.stat().st_size for p in inputs), 128 * 2**20,
                     tokenize=False)
    return {"job": "job without tokenization", "seconds": time.perf_counter() - started, "rows": result.rows}


def spark_jobs(spark, since_ms: float) -> list[dict]:
    """Each Spark job submitted after `since_ms`: its call site (which step of the pipeline) and
    seconds."""
    from run import spark_api

    def ms(text: str) -> float:
        return datetime.strptime(text.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp() * 1000

    found = []
    for job in spark_api(spark, "jobs"):
        if job.get("completionTime") and ms(job["submissionTime"]) >= since_ms:
            found.append({"job": job["name"], "seconds": (ms(job["completionTime"]) - ms(job["submissionTime"])) / 1000})
    return sorted(found, key=lambda j: -j["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition (used by the tests)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rows-per-file", type=int, default=10_000, help="10,000 rows are about 3 MB")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--profile", action="store_true", help="also the job without tokenization and per-job times")
    parser.add_argument("--out", default=str(REPO / "docs"))
    parser.add_argument("--work", default=str(HERE / "out" / "ingest"))
    args = parser.parse_args()
    files, rows_per_file, reps = (4, 500, 1) if args.smoke else (args.files, args.rows_per_file, args.reps)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)

    from pyspark.sql import SparkSession

    import tegridy_tokens
    from run import start_service

    service, endpoint = start_service(args.latency_ms)
    spark = tegridy_tokens.configure_spark(
        SparkSession.builder.master("local[2]").appName("tegridy-bench-ingest")
        .config("spark.ui.enabled", str(args.profile).lower()).config("spark.driver.memory", "4g")
        .config("spark.ui.showConsoleProgress", "false").config("spark.sql.shuffle.partitions", "4"),
        function_name="tegridy-tokens", endpoint=endpoint).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        generate(work / "warmup" / DATE, 2, 500, "w", 0)
        run_ingest(spark, work / "warmup", work, endpoint)
        run_plain(spark, work / "warmup", work)
        runs, profile = [], []
        for rep in range(reps):
            landing = work / f"landing-{rep}"
            generate(landing / DATE, files, rows_per_file, f"r{rep}x", rep + 1)
            order = (run_ingest, run_plain) if rep % 2 == 0 else (run_plain, run_ingest)
            for job in order:
                since = time.time() * 1000
                runs.append(job(spark, landing, work, endpoint) if job is run_ingest else job(spark, landing, work))
                runs[-1]["rep"] = rep
                if args.profile and job is run_ingest:
                    profile.append({"rep": rep, "spark_jobs": spark_jobs(spark, since)})
                print(json.dumps(runs[-1]), flush=True)
            if args.profile:
                runs.append({**run_untokenized(spark, landing, work), "rep": rep})
                print(json.dumps(runs[-1]), flush=True)
            shutil.rmtree(landing)
    finally:
        spark.stop()
        service.terminate()
        service.wait(30)
    results = summarize(runs, files, rows_per_file, args.latency_ms)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks_ingest.json").write_text(json.dumps({"summary": results, "runs": runs, "profile": profile},
                                                           indent=1) + "\n")
    write_table(results, out / "benchmarks.md")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def summarize(runs: list[dict], files: int, rows_per_file: int, latency_ms: float) -> dict:
    summary = {"files": files, "rows": files * rows_per_file, "latency_ms": latency_ms,
               "reps": len({r["rep"] for r in runs})}
    for name in ("ingest", "plain", "job without tokenization"):
        chosen = [r for r in runs if r["job"] == name]
        if chosen:
            seconds = statistics.median(r["seconds"] for r in chosen)
            summary[name] = {"seconds": seconds, "rows_per_s": chosen[0]["rows"] / seconds,
                             "values_sent": statistics.median(r.get("values_sent", 0) for r in chosen),
                             "invocations": statistics.median(r.get("invocations", 0) for r in chosen)}
    by_rep = {}
    for r in runs:
        by_rep.setdefault(r["rep"], {})[r["job"]] = r["seconds"]
    summary["ratios"] = [round(jobs["ingest"] / jobs["plain"], 3) for _, jobs in sorted(by_rep.items())]
    summary["ratio"] = statistics.median(summary["ratios"])
    return summary


def write_table(s: dict, markdown: Path) -> None:
    rows = ["| run | seconds (median) | rows/s | values sent | invocations |", "|---|---|---|---|---|"]
    for name, label in (("ingest", "`ingest run`"), ("plain", "plain `read.json` → `write.parquet`"),
                        ("job without tokenization", "the ingest job without tokenization")):
        if name in s:
            r = s[name]
            rows.append(f"| {label} | {r['seconds']:.1f} | {r['rows_per_s']:,.0f} | {r['values_sent']:,.0f} | "
                        f"{r['invocations']:,.0f} |")
    table = "\n".join(rows) + (f"\n\n{s['files']} files, {s['rows']:,} lines; ingest / plain time, repetition by "
                               f"repetition: {', '.join(f'{x:.2f}' for x in s['ratios'])}; median **{s['ratio']:.2f}×** "
                               f"(median of {s['reps']}).")
    write_between_markers(markdown, BEGIN, END, table, missing="")


if __name__ == "__main__":
    sys.exit(main())
