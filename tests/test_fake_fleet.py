"""The CPU-free fake fleet of the client benchmarks (jvm .../bench/FakeFleet.scala): a small job
through the real jar gets, row by row, the token the fleet derives from that value's request bytes,
and the fleet received every distinct value."""

from __future__ import annotations

import json

from pyspark.sql import functions as F

FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3


def fake_token(value: str) -> str:
    """FakeFleet's token: FNV-1a-64 of the value as the client's JSON writes it, hex, padded to 47."""
    hashed = FNV_OFFSET
    for byte in json.dumps(value, ensure_ascii=False)[1:-1].encode("utf-8"):
        hashed = ((hashed ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return "tgr_" + format(hashed, "016x") + "0" * 27


def test_a_job_through_the_fake_fleet_gets_its_tokens(spark):
    fleet = spark._jvm.com.tegridy.spark.bench.FakeFleet.start(0, 5, 16)
    previous = spark.conf.get("spark.tegridy.lambda.endpoint")
    spark.conf.set("spark.tegridy.lambda.endpoint", fleet.endpoint())
    try:
        values = [f"fake-fleet-{i}@example.com" for i in range(1_200)] + ['a "quoted" \\ value', "été"]
        frame = spark.createDataFrame([(i, v) for i, v in enumerate(values * 2)], "id long, v string").repartition(3)
        rows = frame.select("id", "v", F.expr("tegridy_tokenize_hp(v)").alias("t")).collect()
        fleet_cpu_nanos = fleet.cpuNanos()  # its own threads' CPU, which fake_fleet.py takes out of the client's
    finally:
        spark.conf.set("spark.tegridy.lambda.endpoint", previous)
        fleet.stop()
    assert len(rows) == 2 * len(values)
    assert all(row.t == fake_token(row.v) for row in rows)
    assert len({row.t for row in rows}) == len(values)
    assert len(values) <= fleet.valuesReceived() <= 2 * len(values)
    assert fleet.invocations() >= len(values) // 500
    assert fleet_cpu_nanos > 0
