"""The quickstart (`tegridy-tokens demo`, `make demo`): the local service, a local Spark with the
jar, a small customer table tokenized (plain and format-preserving tokens) and detokenized back,
then a larger table whose figures show the batching: rows, distinct values, invocations, cache hits."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

CUSTOMERS = [
    (1, "John Doe", "john.doe@email.com", "123-45-6789", "4111 1111 1111 1111", "+1-555-123-4567"),
    (2, "Jane Smith", "jane.smith@email.com", "987-65-4321", "5500-0000-0000-0004", "+1-555-987-6543"),
    (3, "Bob Johnson", "bob.johnson@email.com", "555-44-3333", "6011000000000004", "+1-555-444-3333"),
    (4, "Alice Brown", "alice.brown@email.com", "777-88-9999", "4012888888881881", None),
]

# The figures run: this many rows holding this many distinct addresses.
FIGURE_ROWS, FIGURE_DISTINCT = 100_000, 2_000

# Spark's start-up notices (native Hadoop, the default profile) are not the demo's: quiet below ERROR.
LOG4J2 = """rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
logger.native.name = org.apache.hadoop.util.NativeCodeLoader
logger.native.level = error
logger.utils.name = org.apache.spark.util.Utils
logger.utils.level = error
"""


def run_demo() -> int:
    from pyspark.sql import SparkSession

    from .service import local_service
    from .spark import configure_spark

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # a local demo: no "resolves to a loopback" notice
    with tempfile.TemporaryDirectory(prefix="tegridy-demo-") as home, \
            local_service(vault=Path(home) / "vault.db") as service:
        log_conf = Path(home) / "log4j2.properties"
        log_conf.write_text(LOG4J2)
        print(f"reference tokenization service: Lambda '{service.function_name}' (tokenize) and "
              f"'{service.detokenize_function_name}' (detokenize) at {service.endpoint}")
        builder = (SparkSession.builder.master("local[2]").appName("tegridy-tokens-demo")
                   .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.shuffle.partitions", "4")
                   .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log_conf.as_uri()}"))
        spark = configure_spark(builder, function_name=service.function_name,
                                detokenize_function_name=service.detokenize_function_name,
                                endpoint=service.endpoint).getOrCreate()
        spark.sparkContext.setLogLevel("WARN")
        try:
            spark.createDataFrame(CUSTOMERS, "customer_id INT, name STRING, email STRING, ssn STRING, card STRING, "
                                  "phone STRING").createOrReplaceTempView("customers")
            tokenized = spark.sql("""
                SELECT customer_id, name,
                       tegridy_tokenize_hp(email) AS email_token,
                       tegridy_tokenize_hp(ssn)   AS ssn_token,
                       tegridy_tokenize_hp(phone) AS phone_token
                FROM customers ORDER BY customer_id""")
            tokenized.cache().createOrReplaceTempView("customers_tokenized")
            print("\nTokenized (SELECT tegridy_tokenize_hp(email), ... FROM customers):")
            tokenized.show(truncate=False)

            restored = spark.sql("""
                SELECT customer_id,
                       tegridy_detokenize_hp(email_token) AS email,
                       tegridy_detokenize_hp(ssn_token)   AS ssn,
                       tegridy_detokenize_hp(phone_token) AS phone
                FROM customers_tokenized ORDER BY customer_id""")
            print("Detokenized back (tegridy_detokenize_hp(email_token), ...):")
            restored.show(truncate=False)

            original = {(c[0], c[2], c[3], c[5]) for c in CUSTOMERS}
            back = {tuple(row) for row in restored.collect()}
            print(f"round trip: {len(original & back)}/{len(original)} rows restored exactly")
            print("\nFormat-preserving tokens (tegridy_tokenize_hp(ssn, 'ssn'), tegridy_tokenize_hp(card, 'credit_card')):")
            spark.sql("""
                SELECT customer_id, ssn, tegridy_tokenize_hp(ssn, 'ssn') AS ssn_token,
                       card, tegridy_tokenize_hp(card, 'credit_card') AS card_token
                FROM customers ORDER BY customer_id""").show(truncate=False)
            _figures(spark)
            return 0 if back == original else 1
        finally:
            spark.stop()


def _figures(spark) -> None:
    """Tokenizes a larger table and prints what went to the service: batching and dedup at work."""
    from .meter import metrics

    before = metrics(spark)
    spark.sql(f"""SELECT count(DISTINCT tegridy_tokenize_hp(concat('user-', id % {FIGURE_DISTINCT}, '@example.com')))
                  FROM range(0, {FIGURE_ROWS}, 1, 4)""").collect()
    after = metrics(spark)
    moved = {key: after[key] - before[key] for key in ("rows", "values_sent", "invocations", "cache_hits")}
    print(f"\nFigures for {FIGURE_ROWS:,} rows holding {FIGURE_DISTINCT:,} distinct addresses:")
    print(f"  rows tokenized     {moved['rows']:>9,}")
    print(f"  values sent        {moved['values_sent']:>9,}  (each distinct value about once)")
    print(f"  invocations        {moved['invocations']:>9,}  (batches of up to 500 values)")
    print(f"  cache hits         {moved['cache_hits']:>9,}  (repeats found in the executor cache; the rest in each task's window)")
