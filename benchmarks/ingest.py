"""The ingestion benchmark (`make bench-ingest`; `--smoke` for the tiny run the tests use): seed
003's files (100 NDJSON files of about 3.5 MB) with three PII columns (email, ssn, phone), each
about 5% distinct, converted by the pipeline's Spark job (`ingest.convert`) with the PII columns
tokenized, and the same job without tokenization, side by side.

One Spark (local[2], as the other benchmarks), the reference service as its own process
(stateless HMAC tokens, --latency-ms 20 for a warm Lambda's round trip). A small warm-up set
runs first and is discarded; then each repetition gets a data set of its own (fresh values, so
the token cache starts cold), on which both jobs run, in alternating order. Writes
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from doc_markers import write_between_markers  # noqa: E402
BEGIN, END = "<!-- bench:ingest:begin -->", "<!-- bench:ingest:end -->"
PII = {"email": "default", "ssn": "default", "phone": "default"}


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


def run_once(spark, folder: Path, out: Path, tokenize: bool, endpoint: str) -> dict:
    import tegridy_tokens
    from tegridy_tokens.ingest.convert import convert
    from run import service_stats

    inputs = sorted(folder.glob("*.ndjson"))
    size = sum(p.stat().st_size for p in inputs)
    shutil.rmtree(out, ignore_errors=True)
    before = service_stats(endpoint)
    with tegridy_tokens.measure(spark) as measured:
        started = time.perf_counter()
        result = convert(spark, [p.as_uri() for p in inputs], out.as_uri(), "2026-01-15T00:00:00+00:00", PII,
                         size, 128 * 1024 * 1024, tokenize=tokenize)
        seconds = time.perf_counter() - started
    after = service_stats(endpoint)
    outputs = sorted(p.stat().st_size for p in (out / "data").glob("*.parquet"))
    return {"tokenized": tokenize, "seconds": seconds, "rows": result.rows, "input_mb": size / 2**20,
            "rows_per_s": result.rows / seconds, "mb_per_s": size / 2**20 / seconds,
            "invocations": after["invocations"] - before["invocations"],
            "values_sent": after["values_received"] - before["values_received"],
            "cache_hits": measured.metrics["cache_hits"] if tokenize else 0,
            "output_files_mb": [round(s / 2**20, 1) for s in outputs]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one repetition (used by the tests)")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--rows-per-file", type=int, default=11_500, help="11,500 rows are about 3.5 MB")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--cache-entries", type=int, default=None, help="spark.tegridy.cache.maxEntries (engine default)")
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
        .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g")
        .config("spark.ui.showConsoleProgress", "false").config("spark.sql.shuffle.partitions", "4"),
        function_name="tegridy-tokens", endpoint=endpoint, cache_max_entries=args.cache_entries).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        generate(work / "warmup", 2, 500, "w", 0)
        for tokenize in (True, False):
            run_once(spark, work / "warmup", work / "out-warmup", tokenize, endpoint)
        runs = []
        for rep in range(reps):
            data = work / f"data-{rep}"
            generate(data, files, rows_per_file, f"r{rep}x", rep + 1)
            order = (True, False) if rep % 2 == 0 else (False, True)
            for tokenize in order:
                runs.append(run_once(spark, data, work / f"out-{rep}-{tokenize}", tokenize, endpoint))
                print(json.dumps(runs[-1]), flush=True)
            shutil.rmtree(data)
    finally:
        spark.stop()
        service.terminate()
        service.wait(30)
    results = summarize(runs, files, rows_per_file, args.latency_ms)
    results["cache_max_entries"] = args.cache_entries
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "benchmarks_ingest.json").write_text(json.dumps({"summary": results, "runs": runs}, indent=1) + "\n")
    write_table(results, out / "benchmarks.md")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def summarize(runs: list[dict], files: int, rows_per_file: int, latency_ms: float) -> dict:
    def median(tokenized: bool, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["tokenized"] == tokenized)

    summary = {"files": files, "rows": files * rows_per_file, "latency_ms": latency_ms,
               "input_mb": runs[0]["input_mb"], "reps": len(runs) // 2}
    for tokenized, name in ((True, "tokenized"), (False, "plain")):
        chosen = [r for r in runs if r["tokenized"] == tokenized]
        summary[name] = {"seconds": median(tokenized, "seconds"), "rows_per_s": median(tokenized, "rows_per_s"),
                         "mb_per_s": median(tokenized, "mb_per_s"),
                         "invocations_per_million_rows": median(tokenized, "invocations") * 1e6 / chosen[0]["rows"],
                         "values_sent": median(tokenized, "values_sent"), "output_files_mb": chosen[0]["output_files_mb"]}
    summary["cost_ratio"] = summary["tokenized"]["seconds"] / summary["plain"]["seconds"]
    return summary


def write_table(s: dict, markdown: Path) -> None:
    rows = ["| job | rows/s | MB/s | seconds | invocations per million rows | values sent | output files (MB) |",
            "|---|---|---|---|---|---|---|"]
    for name in ("tokenized", "plain"):
        r = s[name]
        rows.append(f"| {name} | {r['rows_per_s']:,.0f} | {r['mb_per_s']:.2f} | {r['seconds']:.1f} | "
                    f"{r['invocations_per_million_rows']:,.0f} | {r['values_sent']:,.0f} | "
                    f"{', '.join(str(x) for x in r['output_files_mb'])} |")
    table = "\n".join(rows) + (f"\n\n{s['files']} files, {s['rows']:,} rows, {s['input_mb']:.0f} MB of NDJSON; "
                               f"tokenized / plain time: **{s['cost_ratio']:.2f}×** (median of {s['reps']}).")
    write_between_markers(markdown, BEGIN, END, table, missing="")


if __name__ == "__main__":
    sys.exit(main())
