"""The core end-to-end suite's 100K-row query (100,000 rows, 10,000 distinct emails, 4 partitions,
tegridy_tokenize_hp) on each Spark line, each in its own venv with its own pyspark and jar, against
the real reference service over HTTP (SQLite vault), as tests/test_engine_end_to_end.py runs it.

    .venv/bin/python benchmarks/spark_lines.py          # every line whose venv exists

A warm-up run is discarded; each timed run uses new values (the executor cache starts cold for
them); the figure is the median rows/s. Writes docs/benchmarks_spark_lines.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROWS, DISTINCT = 100_000, 10_000
# The default line's venv is .venv; the others' are .venvs/spark-X.Y (see the Makefile).
VENVS = {"3.5": ".venvs/spark-3.5", "4.0": ".venvs/spark-4.0", "4.1": ".venvs/spark-4.1", "4.2": ".venv"}


def measure_here(repetitions: int) -> dict:
    """One line, in this interpreter: the median rows/s of `repetitions` timed runs."""
    import pyspark
    from pyspark.sql import SparkSession

    import tegridy_tokens
    from tegridy_tokens.service import local_service

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    with tempfile.TemporaryDirectory() as home, local_service(vault=Path(home) / "vault.db") as service:
        builder = (SparkSession.builder.master("local[2]").appName("tegridy-bench-lines")
                   .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4"))
        spark = tegridy_tokens.configure_spark(builder, function_name=service.function_name,
                                               endpoint=service.endpoint).getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        seconds = []
        for run in range(repetitions + 1):
            df = spark.range(0, ROWS, 1, 4).selectExpr(
                f"concat('bench{run}-', id % {DISTINCT}, '@example.com') AS email").selectExpr("tegridy_tokenize_hp(email) AS t")
            start = time.perf_counter()
            assert df.where("t LIKE 'tgr_%'").count() == ROWS
            if run:  # run 0 warms the JVM up
                seconds.append(time.perf_counter() - start)
        spark.stop()
    median = statistics.median(seconds)
    return {"pyspark": pyspark.__version__, "jar": Path(tegridy_tokens.jar_path()).name,
            "seconds_median": round(median, 3), "rows_per_second": round(ROWS / median)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--here", action="store_true", help="measure this interpreter's line only, print JSON")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks_spark_lines.json"))
    args = parser.parse_args()
    if args.here:
        print(json.dumps(measure_here(args.repetitions)))
        return 0
    results = {}
    for line, venv in VENVS.items():
        python = REPO / venv / "bin" / "python"
        if not python.exists():
            print(f"Spark {line}: no {venv} (run `make build`), skipped", file=sys.stderr)
            continue
        done = subprocess.run([str(python), __file__, "--here", "--repetitions", str(args.repetitions)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"Spark {line}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
            return 1
        results[line] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"Spark {line}: {results[line]}")
    load = os.getloadavg()
    Path(args.out).write_text(json.dumps({"rows": ROWS, "distinct": DISTINCT, "cpus": os.cpu_count(),
                                          "load_average_1_5_15": [round(x, 1) for x in load],
                                          "lines": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
