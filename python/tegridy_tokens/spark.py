"""Putting the engine into a SparkSession: at build time (`configure_spark`) or into one that
is already running (`register`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from .connect import is_connect, register_error
from .engine import EXTENSIONS_CLASS, require_engine
from .jar import jar_path
from .settings import TegridySettings, check_names, to_spark_conf

if TYPE_CHECKING:  # only type checkers read `Unpack`, so Python 3.10 needs no typing_extensions
    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack


def _append(existing: str | None, item: str) -> str:
    parts = [part for part in (existing or "").split(",") if part.strip()]
    return ",".join(parts if item in parts else parts + [item])


def configure_spark(builder: Any, **settings: Unpack[TegridySettings]) -> Any:
    """Adds the bundled jar, the SQL extension and the settings to a `SparkSession.builder`.

    On a Spark Connect builder (`.remote(...)`) only the settings are added: the jar and the
    extension belong to the Connect server (docs/connect.md).

    >>> from pyspark.sql import SparkSession
    >>> import tegridy_tokens
    >>> spark = tegridy_tokens.configure_spark(
    ...     SparkSession.builder.master("local[2]"),
    ...     function_name="tegridy-tokens", endpoint="http://127.0.0.1:9001",
    ... ).getOrCreate()  # doctest: +SKIP
    >>> spark.sql("SELECT tegridy_tokenize_hp('jane@example.com')")  # doctest: +SKIP
    """
    conf = to_spark_conf(settings)
    options = getattr(builder, "_options", {})
    if "spark.remote" not in options:
        builder = builder.config("spark.jars", _append(options.get("spark.jars"), jar_path()))
        builder = builder.config("spark.sql.extensions", _append(options.get("spark.sql.extensions"), EXTENSIONS_CLASS))
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder


def register(spark: Any, **settings: Unpack[TegridySettings]) -> None:
    """Registers the functions, the batching rule and its planner strategy on a running session
    whose classpath already has the jar, and sets the given settings on it (they apply to queries
    analysed from now on). Under Spark Connect it raises `TegridyConnectError`: the Connect server
    must be started with the jar and the extension (docs/connect.md).

    >>> tegridy_tokens.register(spark, function_name="tegridy-tokens")  # doctest: +SKIP
    """
    check_names(settings)
    if is_connect(spark):
        raise register_error(to_spark_conf(settings))
    jvm = require_engine(spark)
    for key, value in to_spark_conf(settings).items():
        spark.conf.set(key, value)
    jvm.com.tegridy.spark.TegridyRegistration.register(spark._jsparkSession)
