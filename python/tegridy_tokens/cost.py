"""What tokenizing costs on AWS Lambda: `cost` from the figures of what ran, `estimate_cost` before
running, from an approximate distinct count per column (the engine sends each distinct value about
once, in batches of `batch.maxRows`; the seed's estimate divided rows by a guessed batch size and
ignored that).

The default prices are AWS Lambda's published on-demand x86 prices in us-east-1 as of 2025
($0.20 per million requests, $0.0000166667 per GB-second); pass your region's or your contract's.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from .meter import metrics

PRICE_PER_MILLION_REQUESTS = 0.20
PRICE_PER_GB_SECOND = 0.0000166667


def _priced(invocations: float, seconds: float, rows: float, memory_mb: int,
            price_per_million_requests: float, price_per_gb_second: float) -> dict[str, float]:
    gb_seconds = seconds * memory_mb / 1024
    requests_usd = invocations * price_per_million_requests / 1e6
    compute_usd = gb_seconds * price_per_gb_second
    total = requests_usd + compute_usd
    return {"invocations": invocations, "gb_seconds": gb_seconds, "requests_usd": requests_usd,
            "compute_usd": compute_usd, "total_usd": total, "rows": rows,
            "usd_per_million_rows": total / rows * 1e6 if rows else 0.0}


def cost(spark: Any, memory_mb: int = 512, price_per_million_requests: float = PRICE_PER_MILLION_REQUESTS,
         price_per_gb_second: float = PRICE_PER_GB_SECOND, figures: dict[str, float] | None = None) -> dict[str, float]:
    """The Lambda cost of what ran (this session's cumulative figures, or `figures` such as a
    `measure(spark).metrics`): invocations, GB-seconds from the time spent in invocations (as the
    client measured it, an upper bound on the billed duration), and $ per million rows.

    >>> tegridy_tokens.cost(spark, memory_mb=512)["usd_per_million_rows"]  # doctest: +SKIP
    0.0071
    """
    figures = figures if figures is not None else metrics(spark)
    return _priced(figures["invocations"], figures["invocation_time_ns"] / 1e9, figures["rows"], memory_mb,
                   price_per_million_requests, price_per_gb_second)


def estimate_cost(df: Any, columns: Sequence[str], memory_mb: int = 512, batch_max_rows: int = 500,
                  ms_per_invocation: float = 100.0, price_per_million_requests: float = PRICE_PER_MILLION_REQUESTS,
                  price_per_gb_second: float = PRICE_PER_GB_SECOND) -> dict[str, Any]:
    """Estimates before running: for each column an approximate distinct count (one Spark job with
    `approx_count_distinct`), invocations ≈ ⌈distinct / batch_max_rows⌉, and the cost at
    `ms_per_invocation`. Each executor asks for a value at most once, so with E executors the
    true count lies between this and E times it.

    >>> tegridy_tokens.estimate_cost(customers, ["email", "ssn"])["total_usd"]  # doctest: +SKIP
    """
    from pyspark.sql import functions as F

    if not columns:
        raise ValueError("estimate_cost needs at least one column to tokenize")
    row = df.agg(F.count(F.lit(1)).alias("rows"),
                 *[F.approx_count_distinct(c).alias(f"distinct_{i}") for i, c in enumerate(columns)]).first()
    distinct = {c: int(row[f"distinct_{i}"]) for i, c in enumerate(columns)}
    invocations = sum(math.ceil(n / batch_max_rows) for n in distinct.values())
    estimate = _priced(invocations, invocations * ms_per_invocation / 1000, row["rows"], memory_mb,
                       price_per_million_requests, price_per_gb_second)
    estimate["distinct"] = distinct
    return estimate
