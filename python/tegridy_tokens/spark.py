"""Putting the engine into a SparkSession: at build time (`configure_spark`) or into one that
is already running (`register`)."""

from __future__ import annotations

from typing import Any

from .jar import jar_path
from .settings import to_spark_conf

EXTENSIONS_CLASS = "com.tegridy.spark.TegridyExtensions"
REGISTRATION_CLASS = "com.tegridy.spark.TegridyRegistration"
ACCUMULATOR_CLASS = "com.tegridy.spark.metrics.TegridyAccumulator"

# Keys that are counts (ints); the others are latencies in milliseconds (floats).
_LATENCY_PREFIX = "latency_ms_"


class JarNotOnClasspathError(RuntimeError):
    """`register` was called on a session whose JVM does not have the engine jar."""


def _append(existing: str | None, item: str) -> str:
    parts = [part for part in (existing or "").split(",") if part.strip()]
    return ",".join(parts if item in parts else parts + [item])


def configure_spark(builder: Any, **settings: Any) -> Any:
    """Adds the bundled jar, the SQL extension and the settings to a `SparkSession.builder`.

    >>> from pyspark.sql import SparkSession
    >>> import tegridy_tokens
    >>> spark = tegridy_tokens.configure_spark(
    ...     SparkSession.builder.master("local[2]"),
    ...     function_name="tegridy-tokens", endpoint="http://127.0.0.1:9001",
    ... ).getOrCreate()  # doctest: +SKIP
    >>> spark.sql("SELECT tegridy_tokenize_hp('jane@example.com')")  # doctest: +SKIP
    """
    options = getattr(builder, "_options", {})
    builder = builder.config("spark.jars", _append(options.get("spark.jars"), jar_path()))
    builder = builder.config("spark.sql.extensions", _append(options.get("spark.sql.extensions"), EXTENSIONS_CLASS))
    for key, value in to_spark_conf(settings).items():
        builder = builder.config(key, value)
    return builder


def _require_engine(spark: Any) -> Any:
    jvm = spark._jvm
    try:
        loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
        jvm.java.lang.Class.forName(REGISTRATION_CLASS, True, loader)
    except Exception:
        raise JarNotOnClasspathError(
            "the Tegridy engine jar is not on this session's classpath. Start the session with it: "
            "tegridy_tokens.configure_spark(SparkSession.builder, ...), or "
            "spark-submit --jars $(tegridy-tokens jar), or spark.jars=<path from tegridy_tokens.jar_path()>"
        ) from None
    return jvm


def metrics(spark: Any) -> dict[str, float]:
    """Cumulative figures of every tokenize/detokenize this session's jobs ran, from all
    executors (reported as each task finishes): `rows`, `distinct_values`, `cache_hits`,
    `shared_in_flight`, `invocations`, `values_sent`, `retries`, `throttles`, `errors`,
    `bytes_sent`, `bytes_received`, `nulls_or_blanks`, `invocation_time_ns` (ints) and
    `latency_ms_p50`, `latency_ms_p95`, `latency_ms_p99` (per invocation, from a histogram).

    >>> before = tegridy_tokens.metrics(spark)  # doctest: +SKIP
    >>> df.write.parquet("out")  # doctest: +SKIP
    >>> tegridy_tokens.metrics(spark)["invocations"] - before["invocations"]  # doctest: +SKIP
    40
    """
    jvm = _require_engine(spark)
    snapshot = jvm.com.tegridy.spark.metrics.TegridyAccumulator.snapshot(spark._jsc.sc())
    return {key: (float(value) if key.startswith(_LATENCY_PREFIX) else int(value)) for key, value in snapshot.items()}


def register(spark: Any, **settings: Any) -> None:
    """Registers the functions, the batching rule and its planner strategy on a running session
    whose classpath already has the jar, and sets the given settings on it (they apply to queries
    analysed from now on).

    >>> tegridy_tokens.register(spark, function_name="tegridy-tokens")  # doctest: +SKIP
    """
    jvm = _require_engine(spark)
    for key, value in to_spark_conf(settings).items():
        spark.conf.set(key, value)
    jvm.com.tegridy.spark.TegridyRegistration.register(spark._jsparkSession)
