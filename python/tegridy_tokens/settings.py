"""Python keyword arguments <-> the `spark.tegridy.*` keys of the public contract: the one list of
names (`SETTING_KEYS`), their types (`TegridySettings`) and the check that turns a typo into an
error naming the closest setting."""

from __future__ import annotations

import difflib
from typing import Any, Literal, Mapping, TypedDict

# snake_case keyword -> Spark conf key (ARCHITECTURE.md, "Configuration"). A Scala test holds this
# dict to the engine's settings table, so keep one `"name": "key",` entry per line.
SETTING_KEYS: dict[str, str] = {
    "function_name": "spark.tegridy.lambda.functionName",
    "detokenize_function_name": "spark.tegridy.lambda.detokenizeFunctionName",
    "region": "spark.tegridy.lambda.region",
    "endpoint": "spark.tegridy.lambda.endpoint",
    "batch_max_rows": "spark.tegridy.batch.maxRows",
    "batch_max_bytes": "spark.tegridy.batch.maxBytes",
    "max_in_flight": "spark.tegridy.maxInFlight",
    "cache_max_entries": "spark.tegridy.cache.maxEntries",
    "timeout_ms": "spark.tegridy.timeoutMs",
    "retry_max_attempts": "spark.tegridy.retry.maxAttempts",
    "retry_total_timeout_ms": "spark.tegridy.retry.totalTimeoutMs",
    "retry_item_attempts": "spark.tegridy.retry.itemAttempts",
    "on_error": "spark.tegridy.onError",
    "protocol": "spark.tegridy.protocol",
    "redshift_verify": "spark.tegridy.redshift.verify",
    "redshift_external_function": "spark.tegridy.redshift.externalFunction",
    "pii_types": "spark.tegridy.pii.types",
    "scope": "spark.tegridy.scope",
}


class TegridySettings(TypedDict, total=False):
    """The keyword arguments of `configure_spark` and `register`, for type checkers and IDEs.
    Every one is optional here; `function_name` must be set somewhere (here or in the Spark conf)."""

    function_name: str  # Lambda function name or ARN
    detokenize_function_name: str  # the function detokenize calls go to; unset = detokenize off
    region: str  # AWS region; default: the SDK's chain, else us-east-1
    endpoint: str  # endpoint override, e.g. "http://127.0.0.1:9001"; default: real AWS
    batch_max_rows: int  # values per invocation (500; unlimited under protocol="redshift")
    batch_max_bytes: int  # serialized request bytes per invocation (5 MiB)
    max_in_flight: int  # concurrent invocations per executor (16)
    cache_max_entries: int  # tokens cached per executor (100000); 0 turns the cache off
    timeout_ms: int  # one invocation's timeout (30000)
    retry_max_attempts: int  # ceiling on the attempts per batch (100); transport faults retry until the time budget
    retry_total_timeout_ms: int  # time budget for all retries of one batch (300000)
    retry_item_attempts: int  # attempts for a failed item with no `retryable` flag (3)
    on_error: Literal["fail", "null"]  # what a value the service refuses becomes ("fail")
    protocol: Literal["tegridy", "redshift"]  # the JSON spoken: ours, or Redshift's Lambda-UDF JSON ("tegridy")
    redshift_verify: Literal["off", "sample"]  # protocol="redshift": detokenize a sample of each batch's tokens ("off")
    redshift_external_function: str  # external_function sent under protocol="redshift" (the Spark function's name)
    pii_types: str  # the data types tokenize_pii tokenizes ("email,ssn,phone,credit_card")
    scope: str  # the token scope; tokens of two scopes are unrelated ("default": today's tokens)


class UnknownSettingError(TypeError):
    """A keyword that is not a Tegridy setting (a TypeError, as Python's own unexpected keyword)."""


def check_names(names: Any) -> None:
    """Raises UnknownSettingError for the first name that is not a setting, suggesting the closest."""
    for name in sorted(set(names) - set(SETTING_KEYS)):
        close = difflib.get_close_matches(name, SETTING_KEYS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownSettingError(f"unknown Tegridy setting {name!r}; {hint}known settings: {', '.join(SETTING_KEYS)}")


def to_spark_conf(settings: Mapping[str, Any]) -> dict[str, str]:
    """{"batch_max_rows": 500} -> {"spark.tegridy.batch.maxRows": "500"}; None values are skipped.

    Values are validated by the engine when a query is analysed (one parser, in Scala); here
    only the names are checked, so that a typo fails at once.
    """
    check_names(settings)
    conf = {}
    for name, value in settings.items():
        if value is None:
            continue
        conf[SETTING_KEYS[name]] = str(value).lower() if isinstance(value, bool) else str(value)
    return conf
