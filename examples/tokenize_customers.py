"""Tokenize the email column of a customer table and write it as Parquet.

A plain PySpark job, run the way users run theirs:

    spark-submit \\
      --jars "$(tegridy-tokens jar)" \\
      --conf spark.sql.extensions=com.tegridy.spark.TegridyExtensions \\
      --conf spark.tegridy.lambda.functionName=tegridy-tokens \\
      --conf spark.tegridy.lambda.endpoint=http://127.0.0.1:9001 \\
      examples/tokenize_customers.py --rows 100000 --distinct 10000 --output /tmp/customers_tok

It only tokenizes, so it needs no detokenize rights: detokenize stays off unless
spark.tegridy.lambda.detokenizeFunctionName names the detokenize function
(tegridy-tokens-detokenize on the local service), which the job's role must be allowed to invoke
(docs/security.md).

The input is generated (rows customers over `distinct` email addresses); the last line printed
is a JSON summary with the engine's metrics.
"""

from __future__ import annotations

import argparse
import json

from pyspark.sql import SparkSession

import tegridy_tokens


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--distinct", type=int, default=10000)
    parser.add_argument("--prefix", default="customer")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    spark = SparkSession.builder.appName("tokenize-customers").getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    before = tegridy_tokens.metrics(spark)

    spark.range(args.rows).selectExpr(
        "id AS customer_id",
        f"concat('{args.prefix}', id % {args.distinct}, '@example.com') AS email",
    ).createOrReplaceTempView("customers")
    tokenized = spark.sql(
        "SELECT customer_id, email, tegridy_tokenize_hp(email) AS email_token FROM customers")
    tokenized.write.mode("overwrite").parquet(args.output)

    after = tegridy_tokens.metrics(spark)
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1  # minus the driver
    delta = {key: after[key] - before.get(key, 0) for key in after if not key.startswith("latency")}
    print(json.dumps({"executors": executors, "metrics": delta, "output": args.output}))
    spark.stop()


if __name__ == "__main__":
    main()
