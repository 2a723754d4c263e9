"""A Delta Lake job for tests/test_delta.py, in its own JVM (Delta's extension and catalog must be
set when the session starts): writes a table of tokens, then DELETE and UPDATE with
tegridy_detokenize_hp in the WHERE clause, and prints what it found as one JSON line.

    python delta_job.py FUNCTION_NAME DETOKENIZE_ENDPOINT TABLE_PATH
"""

from __future__ import annotations

import json
import sys

from delta import configure_spark_with_delta_pip
from pyspark.sql import SparkSession

import tegridy_tokens


def main(function_name: str, endpoint: str, path: str) -> None:
    builder = (SparkSession.builder.master("local[2]").appName("tegridy-delta")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
               .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"))
    builder = tegridy_tokens.configure_spark(builder, function_name=function_name,
                                             detokenize_function_name=function_name + "-detokenize", endpoint=endpoint)
    spark = configure_spark_with_delta_pip(builder).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")

    # 2,000 customers in 4 files; the table holds tokens only.
    (spark.range(0, 2000, 1, 4)
     .selectExpr("id", "tegridy_tokenize_hp(concat('user-', id, '@example.com')) AS email_token", "'' AS note")
     .write.format("delta").save(path))
    table = f"delta.`{path}`"
    files_before = spark.sql(f"SELECT count(DISTINCT _metadata.file_path) FROM {table}").first()[0]

    spark.sql(f"DELETE FROM {table} WHERE tegridy_detokenize_hp(email_token) = 'user-7@example.com'")
    spark.sql(f"UPDATE {table} SET note = 'vip' WHERE tegridy_detokenize_hp(email_token) LIKE 'user-19%'")
    rows = spark.sql(f"SELECT id, note, tegridy_detokenize_hp(email_token) AS email FROM {table}").collect()
    print(json.dumps({
        "files_before": files_before,
        "rows": len(rows),
        "ids": sorted(r.id for r in rows),
        "vip": sorted(r.id for r in rows if r.note == "vip"),
        "emails_exact": all(r.email == f"user-{r.id}@example.com" for r in rows),
    }))
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:4])
