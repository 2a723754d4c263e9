"""The quickstart (`tegridy-tokens demo`, `make demo`): the local service, a local Spark with the
jar, a small customer table like seed 001's, tokenized and detokenized back."""

from __future__ import annotations

import tempfile
from pathlib import Path

CUSTOMERS = [
    (1, "John Doe", "john.doe@email.com", "123-45-6789", "+1-555-123-4567"),
    (2, "Jane Smith", "jane.smith@email.com", "987-65-4321", "+1-555-987-6543"),
    (3, "Bob Johnson", "bob.johnson@email.com", "555-44-3333", "+1-555-444-3333"),
    (4, "Alice Brown", "alice.brown@email.com", "777-88-9999", None),
]


def run_demo() -> int:
    from pyspark.sql import SparkSession

    from .service import local_service
    from .spark import configure_spark

    with tempfile.TemporaryDirectory(prefix="tegridy-demo-") as home, \
            local_service(vault=Path(home) / "vault.db") as service:
        print(f"reference tokenization service: Lambda '{service.function_name}' (tokenize) and "
              f"'{service.detokenize_function_name}' (detokenize) at {service.endpoint}")
        builder = (SparkSession.builder.master("local[2]").appName("tegridy-tokens-demo")
                   .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.shuffle.partitions", "4"))
        spark = configure_spark(builder, function_name=service.function_name,
                                detokenize_function_name=service.detokenize_function_name,
                                endpoint=service.endpoint).getOrCreate()
        spark.sparkContext.setLogLevel("WARN")
        try:
            spark.createDataFrame(CUSTOMERS, "customer_id INT, name STRING, email STRING, ssn STRING, phone STRING") \
                .createOrReplaceTempView("customers")
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

            original = {(c[0], c[2], c[3], c[4]) for c in CUSTOMERS}
            back = {tuple(row) for row in restored.collect()}
            print(f"round trip: {len(original & back)}/{len(original)} rows restored exactly")
            return 0 if back == original else 1
        finally:
            spark.stop()
