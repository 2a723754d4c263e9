"""Run by tests/test_sdk_clash.py through spark-submit, with an older AWS SDK v2 on the driver's
system classpath ahead of our jar (as EMR and Glue put theirs): the core tokenize/detokenize round
trip, and which SDK each name resolves to. Prints one JSON line; a failure is reported in it, not
raised, so that the test can say what broke."""

from __future__ import annotations

import json
import sys

from pyspark.sql import SparkSession


def sdk_version_and_jar(spark: SparkSession, version_class: str) -> dict:
    """The SDK version `version_class` reports and the jar it was loaded from, as Spark's own
    class loader (the one that loads our jar) resolves it."""
    jvm = spark._jvm
    try:
        loaded = jvm.java.lang.Thread.currentThread().getContextClassLoader().loadClass(version_class)
    except Exception as error:  # noqa: BLE001 - the test reads what is missing
        return {"error": type(error).__name__}
    return {"version": loaded.getField("SDK_VERSION").get(None),
            "jar": loaded.getProtectionDomain().getCodeSource().getLocation().getPath()}


def main() -> None:
    rows, distinct = int(sys.argv[1]), int(sys.argv[2])
    spark = SparkSession.builder.appName("tegridy-sdk-clash").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    results: dict = {
        "cluster_sdk": sdk_version_and_jar(spark, "software.amazon.awssdk.core.util.VersionInfo"),
        "our_sdk": sdk_version_and_jar(spark, "com.tegridy.shaded.awssdk.core.util.VersionInfo"),
    }
    spark.range(0, rows, 1, 4).selectExpr(f"concat('clash-', id % {distinct}, '@example.com') AS v") \
        .createOrReplaceTempView("clash_values")
    try:
        pairs = spark.sql("""SELECT v, t, tegridy_detokenize_hp(t) AS back
                             FROM (SELECT v, tegridy_tokenize_hp(v) AS t FROM clash_values)""").collect()
        results["tokens"] = {row.v: row.t for row in pairs}
        results["rows"] = len(pairs)
        results["round_trip"] = sum(1 for row in pairs if row.back == row.v)
        results["error"] = None
    except Exception as error:  # noqa: BLE001 - the test shows what broke (no value is in our errors)
        results["error"] = str(error)[:3000]
    print(json.dumps(results))
    spark.stop()


if __name__ == "__main__":
    main()
