"""Run by tests/test_two_hosts.py through spark-submit on a standalone cluster of two workers on two
loopback hosts. One partition's first attempt is made slow after its rows went through the call:
`speculate` lets Spark start a copy of it on the other host (the slow original is then killed);
`kill` makes the first attempt kill its own executor JVM (kill -9, as a lost host would). Prints one
JSON line: the output's tokens by id and the engine's figures."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from pyspark import TaskContext
from pyspark.sql import SparkSession

import tegridy_tokens

ROWS = 4000
PARTITIONS = 4


def value(mode: str, i: int) -> str:
    # Long enough that the Python worker's 64 KB output buffer fills and flushes well before a
    # partition's last row: the slow attempt's rows must reach the call before it stalls.
    return f"two-hosts-{mode}-{i}-" + "x" * 400


def executor_jvm() -> int:
    """The executor JVM above this Python worker (its parent, or the parent of PySpark's daemon)."""
    pid = os.getppid()
    while pid > 1:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if b"CoarseGrainedExecutorBackend" in handle.read():
                return pid
        with open(f"/proc/{pid}/stat") as handle:
            pid = int(handle.read().rsplit(")", 1)[1].split()[1])
    raise RuntimeError("no executor JVM above this Python worker")


def rows_then_stall(mode: str):
    def generate(index, rows):
        yield from rows
        context = TaskContext.get()
        if index == 0 and context.attemptNumber() == 0:
            if mode == "kill":
                time.sleep(3)  # the calls for the rows flushed so far are answered: then the host is lost
                os.kill(executor_jvm(), signal.SIGKILL)
            time.sleep(120)  # long enough for the copy on the other host to win
    return generate


def main() -> None:
    mode = sys.argv[1]
    spark = SparkSession.builder.appName(f"tegridy-two-hosts-{mode}").getOrCreate()
    source = spark.sparkContext.parallelize([(i, value(mode, i)) for i in range(ROWS)], PARTITIONS)
    values = spark.createDataFrame(source.mapPartitionsWithIndex(rows_then_stall(mode)), "id long, v string")
    before = tegridy_tokens.metrics(spark)
    rows = values.selectExpr("id", "tegridy_tokenize_hp(v) AS t").collect()
    # A killed attempt's figures reach the driver after the job ends, once its task thread
    # stops: wait until they stop changing (up to a minute).
    after, steady_since, deadline = tegridy_tokens.metrics(spark), time.monotonic(), time.monotonic() + 60
    while time.monotonic() - steady_since < 10 and time.monotonic() < deadline:
        time.sleep(1)
        now = tegridy_tokens.metrics(spark)
        if now["invocations"] != after["invocations"]:
            after, steady_since = now, time.monotonic()
    figures = {key: after[key] - before[key] for key in ("invocations", "values_sent", "attempts_unsent", "errors")}
    print(json.dumps({"tokens": {row.id: row.t for row in rows}, "figures": figures}))
    spark.stop()


if __name__ == "__main__":
    main()
