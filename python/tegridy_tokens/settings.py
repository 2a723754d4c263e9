"""Python keyword arguments <-> the `spark.tegridy.*` keys of the public contract."""

from __future__ import annotations

from typing import Any

# snake_case keyword -> Spark conf key (ARCHITECTURE.md, "Configuration").
SETTING_KEYS: dict[str, str] = {
    "function_name": "spark.tegridy.lambda.functionName",
    "region": "spark.tegridy.lambda.region",
    "endpoint": "spark.tegridy.lambda.endpoint",
    "batch_max_rows": "spark.tegridy.batch.maxRows",
    "batch_max_bytes": "spark.tegridy.batch.maxBytes",
    "max_in_flight": "spark.tegridy.maxInFlight",
    "cache_max_entries": "spark.tegridy.cache.maxEntries",
    "timeout_ms": "spark.tegridy.timeoutMs",
    "retry_max_attempts": "spark.tegridy.retry.maxAttempts",
    "retry_total_timeout_ms": "spark.tegridy.retry.totalTimeoutMs",
    "on_error": "spark.tegridy.onError",
}


def to_spark_conf(settings: dict[str, Any]) -> dict[str, str]:
    """{"batch_max_rows": 500} -> {"spark.tegridy.batch.maxRows": "500"}; None values are skipped.

    Values are validated by the engine when a query is analysed (one parser, in Scala); here
    only the names are checked, so that a typo fails at once.
    """
    unknown = sorted(set(settings) - set(SETTING_KEYS))
    if unknown:
        raise TypeError(f"unknown Tegridy setting(s) {', '.join(unknown)}; known: {', '.join(sorted(SETTING_KEYS))}")
    conf = {}
    for name, value in settings.items():
        if value is None:
            continue
        conf[SETTING_KEYS[name]] = str(value).lower() if isinstance(value, bool) else str(value)
    return conf
