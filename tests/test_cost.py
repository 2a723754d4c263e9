"""Cost from the figures of what ran, and the estimate before running; the seed's derived metrics."""

from __future__ import annotations

import math

import pytest

import tegridy_tokens


def test_cost_of_known_figures_is_exact():
    figures = {"invocations": 2_000, "invocation_time_ns": 100 * 10**9, "rows": 1_000_000}
    priced = tegridy_tokens.cost(None, memory_mb=1024, figures=figures)
    assert priced["gb_seconds"] == pytest.approx(100.0)
    assert priced["requests_usd"] == pytest.approx(2_000 * 0.20 / 1e6)
    assert priced["compute_usd"] == pytest.approx(100 * 0.0000166667)
    assert priced["usd_per_million_rows"] == pytest.approx(priced["total_usd"])


def test_cost_and_derived_figures_of_a_measured_run(spark):
    with tegridy_tokens.measure(spark) as m:
        spark.range(0, 4000, 1, 2).selectExpr("tegridy_tokenize_hp(concat('cost-', id % 1000)) AS t").collect()
    figures = m.metrics
    assert figures["rows"] == 4000 and figures["invocations"] >= 2
    assert figures["avg_batch_size"] == pytest.approx(figures["values_sent"] / figures["invocations"])
    assert 0.0 <= figures["cache_hit_rate"] <= 1.0 and figures["throughput_rows_per_s"] > 0
    priced = tegridy_tokens.cost(spark, memory_mb=512, figures=figures)
    assert priced["invocations"] == figures["invocations"] and priced["total_usd"] > 0
    cumulative = tegridy_tokens.metrics(spark)
    assert isinstance(cumulative["cache_hit_rate"], float) and isinstance(cumulative["rows"], int)


def test_estimate_counts_distinct_values_not_rows(spark):
    df = spark.range(0, 20_000, 1, 4).selectExpr("concat('e', id % 2000) AS email", "concat('s', id % 100) AS ssn")
    estimate = tegridy_tokens.estimate_cost(df, ["email", "ssn"], batch_max_rows=500)
    assert estimate["rows"] == 20_000
    assert abs(estimate["distinct"]["email"] - 2000) <= 200 and abs(estimate["distinct"]["ssn"] - 100) <= 10
    assert estimate["invocations"] == sum(math.ceil(n / 500) for n in estimate["distinct"].values())
    with pytest.raises(ValueError):
        tegridy_tokens.estimate_cost(df, [])
