"""Reading the engine's figures back in Python: cumulative (`metrics`), reset, and one block of
work (`measure`). Classic sessions read the driver's accumulator through py4j; Spark Connect
sessions read the `tegridy_metrics()` table function through SQL."""

from __future__ import annotations

import math
from typing import Any, Sequence

from .connect import is_connect, metrics_missing_error, reset_error
from .engine import accumulator

_PERCENTILES = {"latency_ms_p50": 0.50, "latency_ms_p95": 0.95, "latency_ms_p99": 0.99}
# The seed's derived figures (floats), computed by the engine from the counters.
_RATIOS = ("cache_hit_rate", "error_rate", "avg_batch_size", "throughput_rows_per_s")
# The analysis errors that mean "this server has no tegridy_metrics()", as opposed to a real fault.
_MISSING_FUNCTION = {"UNRESOLVABLE_TABLE_VALUED_FUNCTION", "UNRESOLVED_ROUTINE"}


def _typed(figures: dict[str, Any]) -> dict[str, float]:
    # Counts are ints, latencies and ratios floats; a latency the server left NULL becomes NaN.
    return {key: (math.nan if value is None else float(value)) if key in _PERCENTILES or key in _RATIOS else int(value)
            for key, value in figures.items()}


def _ratios(figures: dict[str, float]) -> dict[str, float]:
    """The derived figures of a set of counters, as the engine computes them (TegridyStats.asMap)."""
    def ratio(a: str, b: str, scale: float = 1.0) -> float:
        return figures.get(a, 0) * scale / figures[b] if figures.get(b) else 0.0
    return {"cache_hit_rate": ratio("cache_hits", "distinct_values"), "error_rate": ratio("errors", "distinct_values"),
            "avg_batch_size": ratio("values_sent", "invocations"),
            "throughput_rows_per_s": ratio("rows", "task_time_ns", 1e9)}


def _read_sql(spark: Any) -> dict[str, float]:
    from pyspark.errors import AnalysisException

    # Asked first so that a server without the function costs no failed query (which pyspark
    # would log at ERROR with the server's stack trace); table functions count as functions here.
    if not spark.catalog.functionExists("tegridy_metrics"):
        raise metrics_missing_error()
    try:
        rows = spark.sql("SELECT * FROM tegridy_metrics()").collect()
    except AnalysisException as error:
        if error.getCondition() in _MISSING_FUNCTION:
            raise metrics_missing_error() from None
        raise
    return _typed(rows[0].asDict())


def metrics(spark: Any, reset: bool = False) -> dict[str, float]:
    """Cumulative figures of every tokenize/detokenize this session's jobs ran, from all
    executors (reported as each task finishes): `rows`, `distinct_values`, `cache_hits`,
    `shared_in_flight`, `invocations` (requests sent), `attempts_unsent` (refused before a byte
    went out), `values_sent`, `retries`, `throttles`, `errors` (values that ended as failures:
    NULLs under onError=null, or a failed query's failing values, once each),
    `bytes_sent`, `bytes_received`, `nulls_or_blanks`, `invocation_time_ns`, `rows_unbatched`,
    `rows_waited` (rows held in a task's buffer while answers came), `retries_*` by cause, `retries_protocol` among them (ints); `latency_ms_p50`, `latency_ms_p95`, `latency_ms_p99` (per
    invocation, from a histogram); and the derived `cache_hit_rate`, `error_rate`,
    `avg_batch_size`, `throughput_rows_per_s` (floats).

    `reset=True` returns the figures and then zeroes them (not under Spark Connect). Under Spark
    Connect the figures are read with `SELECT * FROM tegridy_metrics()` on the server.

    >>> before = tegridy_tokens.metrics(spark)  # doctest: +SKIP
    >>> df.write.parquet("out")  # doctest: +SKIP
    >>> tegridy_tokens.metrics(spark)["invocations"] - before["invocations"]  # doctest: +SKIP
    40
    """
    if is_connect(spark):
        if reset:
            raise reset_error()
        return _read_sql(spark)
    calls, sc = accumulator(spark)
    figures = _typed(dict(calls.snapshot(sc).items()))
    if reset:
        # Figures of tasks that finish between the two calls are dropped: reset between jobs.
        calls.reset(sc)
    return figures


def latency_histogram(spark: Any) -> list[tuple[float, int]]:
    """The engine's invocation-latency histogram so far: [(bucket upper bound in ms, count), ...]."""
    calls, sc = accumulator(spark)
    return [(float(row[0]), int(row[1])) for row in calls.latencyHistogram(sc)]


def percentile_ms(before: Sequence[tuple[float, int]], after: Sequence[tuple[float, int]], p: float) -> float:
    """The p-th percentile (bucket upper bound, ms) of the invocations between two readings of
    `latency_histogram`, computed as the engine computes its own (LatencyHistogram.percentileMs);
    0.0 when there were none."""
    counts = [(bound, a - b) for (bound, a), (_, b) in zip(after, before)]
    total = sum(count for _, count in counts)
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(p * total))
    seen = 0
    for bound, count in counts:
        seen += count
        if seen >= rank:
            return round(bound, 3)
    return counts[-1][0]


def measure(spark: Any) -> Measurement:
    """The figures of one block of work, in `.metrics` once the block ends: counters are the
    difference between entry and exit, latency percentiles come from the difference of the latency
    histograms.

    >>> with tegridy_tokens.measure(spark) as m:  # doctest: +SKIP
    ...     df.write.parquet("out")
    >>> m.metrics["invocations"]  # doctest: +SKIP
    40

    Under Spark Connect the counters come from `tegridy_metrics()` and the latencies are NaN (a
    percentile cannot be taken from two percentiles). Other jobs running on the same session at
    the same time are counted too.
    """
    return Measurement(spark)


class Measurement:
    """A context manager around one block of work; see `measure`."""

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self.metrics: dict[str, float] = {}
        self._connect = is_connect(spark)
        self._before: dict[str, float] = {}
        self._histogram: list[tuple[float, int]] = []

    def __enter__(self) -> Measurement:
        self._before = metrics(self.spark)
        if not self._connect:
            self._histogram = latency_histogram(self.spark)
        return self

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        try:
            self.metrics = self._difference()
        except Exception:
            if exc_type is None:
                raise
            # The block's own error matters more than figures that could not be read after it.

    def _difference(self) -> dict[str, float]:
        after = metrics(self.spark)
        histogram = None if self._connect else latency_histogram(self.spark)
        figures: dict[str, float] = {key: value - self._before.get(key, 0)
                                     for key, value in after.items() if key not in _PERCENTILES and key not in _RATIOS}
        figures.update(_ratios(figures))
        for key, p in _PERCENTILES.items():
            figures[key] = math.nan if histogram is None else percentile_ms(self._histogram, histogram, p)
        return figures
