"""The array form at scale (issue 12's figure): a 1M-row ARRAY<STRING> column with 20K distinct
elements through tegridy_tokenize_hp(array), against the stateless reference service at 20 ms per
invocation. Prints invocations, values sent and rows/s (median of 3 after a warm-up) as JSON.

    .venv/bin/python benchmarks/arrays.py [--rows 1000000] [--distinct 20000] [--width 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=20_000)
    parser.add_argument("--width", type=int, default=3, help="elements per array")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    from pyspark.sql import SparkSession

    import tegridy_tokens
    from run import service_stats, start_service

    os.environ["PYSPARK_PYTHON"] = sys.executable
    service, endpoint = start_service(20.0)
    spark = tegridy_tokens.configure_spark(
        SparkSession.builder.master("local[2]").appName("tegridy-bench-arrays")
        .config("spark.ui.enabled", "false").config("spark.driver.memory", "4g"),
        function_name="tegridy-tokens", endpoint=endpoint).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    runs = []
    try:
        for rep in range(args.reps + 1):
            elements = ", ".join(f"concat('r{rep}-e', (id * {k + 7}) % {args.distinct}, '@example.com')" for k in range(args.width))
            df = (spark.range(0, args.rows, 1, 4).selectExpr(f"array({elements}) AS emails")
                  .selectExpr("tegridy_tokenize_hp(emails) AS tokens"))
            before = service_stats(endpoint)
            started = time.perf_counter()
            df.write.format("noop").mode("overwrite").save()
            seconds = time.perf_counter() - started
            after = service_stats(endpoint)
            run = {"seconds": round(seconds, 2), "rows_per_s": round(args.rows / seconds),
                   "invocations": after["tokenize_invocations"] - before["tokenize_invocations"],
                   "values_sent": after["values_received"] - before["values_received"]}
            print(f"rep {rep}: {run}", file=sys.stderr)
            if rep > 0:  # the first is a warm-up
                runs.append(run)
    finally:
        spark.stop()
        service.terminate()
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    print(json.dumps({"rows": args.rows, "distinct": args.distinct, "elements_per_row": args.width, "median": median}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
