"""Run by tests/test_log_hygiene.py through spark-submit on a two-executor local cluster: pushes
canary values through every path that can log (success, throttling, a failed query, invalid
UTF-8, unknown tokens) so the test can search all driver and executor output for them."""

from __future__ import annotations

import json
import re
import sys

from pyspark.sql import SparkSession

CANARY = sys.argv[1]  # e.g. "CANARYq7": values look like CANARYq7-<n>-x


def main() -> None:
    spark = SparkSession.builder.appName("tegridy-canaries").getOrCreate()
    results: dict = {}
    values = spark.range(0, 3000, 1, 4).selectExpr(f"concat('{CANARY}-', id, '-x') AS v")
    values.createOrReplaceTempView("canaries")

    # Many batches against a service that throttles above 2 concurrent calls.
    spark.conf.set("spark.tegridy.batch.maxRows", "20")
    tokens = spark.sql("SELECT v, tegridy_tokenize_hp(v) AS t FROM canaries")
    tokens.cache()
    results["tokenized"] = tokens.where("t LIKE 'tgr_%'").count()
    tokens.createOrReplaceTempView("tokens")
    results["round_trip"] = spark.sql("SELECT count(*) FROM tokens WHERE tegridy_detokenize_hp(t) = v").first()[0]

    # Unknown tokens (that carry canaries): the query fails; its error must not carry them.
    try:
        spark.sql(f"SELECT tegridy_detokenize_hp(concat('tgr_{CANARY}-', id, '-x')) FROM range(0, 50, 1, 2)").collect()
        results["unknown_tokens"] = "no error"
    except Exception as error:  # noqa: BLE001 - the test reads the message
        text = str(error)
        results["unknown_tokens"] = "failed" + (": not found" if "the token was not found in the vault" in text else "")
        results["error_names_function"] = "tegridy_detokenize_hp failed for" in text
        results["error_holds_a_value"] = re.search(CANARY + r"-\d+-x", text) is not None

    # Invalid UTF-8 mixed with canaries, NULL by policy.
    spark.conf.set("spark.tegridy.onError", "null")
    row = spark.sql(f"""SELECT tegridy_tokenize_hp(concat('{CANARY}-', id, '-x', CAST(X'C328' AS STRING))) AS t
                        FROM range(0, 1, 1, 1)""").first()
    results["invalid_utf8_is_null"] = row.t is None
    print(json.dumps(results))
    spark.stop()


if __name__ == "__main__":
    main()
