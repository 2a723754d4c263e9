"""Spark Connect: telling a Connect session from a classic one, and the errors that say what to do
where a Connect client cannot reach the JVM (registering functions, resetting metrics)."""

from __future__ import annotations

import sys
from typing import Any, Iterable

from .engine import EXTENSIONS_CLASS

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
SERVER_FLAGS = (
    "--jars $(tegridy-tokens jar) "
    f"--conf spark.sql.extensions={EXTENSIONS_CLASS} "
    "--conf spark.tegridy.lambda.functionName=<function name or ARN>"
)


class TegridyConnectError(RuntimeError):
    """Something a Spark Connect client cannot do, or a Connect server without the engine."""


def is_connect(spark: Any) -> bool:
    """True when `spark` is a Spark Connect session. Asks the session's class, not the process
    (`pyspark.sql.utils.is_remote()` reads an environment variable that any earlier
    `builder.remote()` leaves set), and imports nothing: a Connect session exists only if its
    module was already loaded."""
    module = sys.modules.get("pyspark.sql.connect.session")
    return module is not None and isinstance(spark, module.SparkSession)


def register_error(setting_keys: Iterable[str] = ()) -> TegridyConnectError:
    """The error `register()` raises under Connect: the server, not the client, needs the engine."""
    keys = list(setting_keys) or ["spark.tegridy.batch.maxRows"]
    conf_lines = "\n".join(f"    spark.conf.set({key!r}, ...)" for key in keys)
    return TegridyConnectError(
        "tegridy_tokens.register() cannot add functions from a Spark Connect client: they run in the "
        "Connect server's JVM, which this client cannot reach. Start the Connect server with the jar "
        "and the extension, e.g.\n"
        f"    $SPARK_HOME/sbin/start-connect-server.sh {SERVER_FLAGS}\n"
        f"(or spark-submit --class {SERVER_CLASS} {SERVER_FLAGS} spark-internal);\n"
        "then tegridy_tokenize_hp and the other functions are there in every Connect session. "
        "Settings can be set from this client:\n"
        f"{conf_lines}\n"
        "See docs/connect.md."
    )


def metrics_missing_error() -> TegridyConnectError:
    """The error `metrics()` raises when the Connect server has no `tegridy_metrics()` function."""
    return TegridyConnectError(
        "tegridy_tokens.metrics() reads a Spark Connect server through SQL (SELECT * FROM "
        "tegridy_metrics()), and this server has no tegridy_metrics() table function: it was "
        "started without the Tegridy jar or extension (or with an older jar). Restart it with "
        f"{SERVER_FLAGS}. See docs/connect.md."
    )


def reset_error() -> TegridyConnectError:
    return TegridyConnectError(
        "tegridy_tokens.metrics(spark, reset=True) is not available under Spark Connect: resetting "
        "reaches into the server's JVM, which a Connect client cannot do. Read the figures without "
        "reset, or measure one block of work with `with tegridy_tokens.measure(spark) as m:` "
        "(counters only under Connect)."
    )
