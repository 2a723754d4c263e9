"""An Apache Iceberg job for tests/test_iceberg.py, in its own JVM (Iceberg's extension and catalog
must be set when the session starts; the runtime jar for this Spark line is fetched from Maven
Central by Spark itself): the DML matrix over a local Hadoop catalog, with a call over VALUES,
SELECT (INSERT, CTAS), SET, WHERE (DELETE, UPDATE) and MERGE's ON and WHEN MATCHED AND, for
copy-on-write and merge-on-read tables. Prints what it found as one JSON line.

    python iceberg_job.py RUNTIME_COORDINATE FUNCTION_NAME ENDPOINT WAREHOUSE
"""

from __future__ import annotations

import json
import sys

from pyspark.sql import SparkSession

import tegridy_tokens

ROWS = 200


def email(i: int) -> str:
    return f"ice{i}@example.com"


def run_matrix(spark, table: str, mode: str) -> dict:
    spark.sql(f"""CREATE TABLE {table} (id BIGINT, email STRING, note STRING) USING iceberg
                  TBLPROPERTIES ('format-version'='2', 'write.delete.mode'='{mode}',
                                 'write.update.mode'='{mode}', 'write.merge.mode'='{mode}')""")
    # INSERT over VALUES and INSERT … SELECT with the call. (Spark takes only constant expressions
    # inside a VALUES list, and the call is never constant-folded, so it goes over the VALUES.)
    spark.sql(f"""INSERT INTO {table} SELECT id, tegridy_tokenize_hp(e), 'values'
                  FROM VALUES (-1, '{email(-1)}') AS v(id, e)""")
    spark.sql(f"""INSERT INTO {table} SELECT id, tegridy_tokenize_hp(concat('ice', id, '@example.com')), ''
                  FROM range(0, {ROWS}, 1, 4)""")
    # DELETE with the call in WHERE.
    spark.sql(f"DELETE FROM {table} WHERE tegridy_detokenize_hp(email) LIKE 'ice1%' AND id % 2 = 0")
    # UPDATE with the call in WHERE, and with the call in SET.
    spark.sql(f"UPDATE {table} SET note = 'vip' WHERE tegridy_detokenize_hp(email) LIKE 'ice19%'")
    spark.sql(f"UPDATE {table} SET note = tegridy_tokenize_hp(concat('note-', id)) WHERE id BETWEEN 20 AND 24")
    # MERGE with the call in ON, in WHEN MATCHED AND, and in the INSERT's VALUES.
    spark.range(0, 10).selectExpr("id * 30 AS id", "concat('ice', id * 30, '@example.com') AS email") \
        .union(spark.range(1000, 1003).selectExpr("id", "concat('ice', id, '@example.com') AS email")) \
        .createOrReplaceTempView("source_rows")
    spark.sql(f"""MERGE INTO {table} t USING source_rows s ON tegridy_detokenize_hp(t.email) = s.email
                  WHEN MATCHED AND tegridy_detokenize_hp(t.email) LIKE '%60@%' THEN DELETE
                  WHEN MATCHED THEN UPDATE SET note = 'merged'
                  WHEN NOT MATCHED THEN INSERT (id, email, note) VALUES (s.id, tegridy_tokenize_hp(s.email), 'new')""")
    rows = spark.sql(f"SELECT id, note, tegridy_detokenize_hp(email) AS back FROM {table}").collect()
    note_tokens = {r.id: r.note for r in rows if 20 <= r.id <= 24}
    expected_notes = dict(zip(range(20, 25), [r[0] for r in spark.sql(
        "SELECT tegridy_tokenize_hp(concat('note-', id)) FROM range(20, 25)").collect()]))
    return {
        "ids": sorted(r.id for r in rows),
        "vip": sorted(r.id for r in rows if r.note == "vip"),
        "merged": sorted(r.id for r in rows if r.note == "merged"),
        "new": sorted(r.id for r in rows if r.note == "new"),
        "set_exact": note_tokens == expected_notes,
        "emails_exact": all(r.back == email(r.id) for r in rows),
    }


def main(runtime: str, function_name: str, endpoint: str, warehouse: str) -> None:
    builder = (SparkSession.builder.master("local[2]").appName("tegridy-iceberg")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.jars.packages", runtime)
               .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
               .config("spark.sql.catalog.ice", "org.apache.iceberg.spark.SparkCatalog")
               .config("spark.sql.catalog.ice.type", "hadoop")
               .config("spark.sql.catalog.ice.warehouse", warehouse))
    builder = tegridy_tokens.configure_spark(builder, function_name=function_name,
                                             detokenize_function_name=function_name + "-detokenize", endpoint=endpoint)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    found = {mode: run_matrix(spark, f"ice.db.c_{mode.replace('-', '_')}", mode)
             for mode in ("copy-on-write", "merge-on-read")}
    # CREATE TABLE … AS SELECT with the call.
    spark.sql("""CREATE TABLE ice.db.ctas USING iceberg AS
                 SELECT id, tegridy_tokenize_hp(concat('ice', id, '@example.com')) AS email FROM range(0, 50, 1, 2)""")
    back = spark.sql("SELECT id, tegridy_detokenize_hp(email) AS back FROM ice.db.ctas").collect()
    found["ctas_exact"] = len(back) == 50 and all(r.back == email(r.id) for r in back)
    print(json.dumps(found))
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:5])
