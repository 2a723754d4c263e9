"""The SparkSession the `ingest` commands use: the `[spark]` settings over a builder with the
bundled jar (`configure_spark`). With no `spark.tegridy.lambda.functionName` anywhere, this is
the embedded default: the reference service is started in this process (vault and keyring under
$TEGRIDY_HOME, default ~/.tegridy) and the session points at it. Under spark-submit the master
and the cluster's settings come from spark-submit; alone, the master is local[*]."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator

from .config import IngestConfig

FUNCTION_NAME = "spark.tegridy.lambda.functionName"


@contextlib.contextmanager
def ingest_session(config: IngestConfig) -> Iterator[Any]:
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    from ..spark import configure_spark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    with contextlib.ExitStack() as stack:
        settings = dict(config.spark)
        launched = SparkConf()
        if FUNCTION_NAME not in settings and not launched.contains(FUNCTION_NAME):
            from ..service import local_service

            service = stack.enter_context(local_service())
            settings[FUNCTION_NAME] = service.function_name
            settings["spark.tegridy.lambda.endpoint"] = service.endpoint
        builder = SparkSession.builder.appName("tegridy-tokens-ingest")
        if not launched.contains("spark.master"):
            builder = builder.master("local[*]").config("spark.ui.showConsoleProgress", "false")
        for key, value in settings.items():
            builder = builder.config(key, value)
        spark = configure_spark(builder).getOrCreate()
        try:
            yield spark
        finally:
            spark.stop()
