"""Scopes and erasure seen from Spark, with the real jar against the reference service over HTTP:
a principal allowed one scope gets values there and '[REDACTED]' from safe_detokenize in another
(default-format tokens carry their scope, so the service finds it from the token); an erased
token is never read back as a value."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from test_authority_service import ANALYST, ETL, client_for
from test_authority_spark import acting_as, spark_expr

from tegridy_tokens.service import erase, local_service
from tegridy_tokens.service.auth import Principals

VALUES = [f"scoped-spark-{i}@example.com" for i in range(20)]
MARKETING = dict(ANALYST, name="marketing-analyst", access_key_id="AKIDMARKETING0000003",
                 secret_access_key="marketing-secret-3", detokenize_scopes=["marketing"])


@pytest.fixture(scope="module")
def scoped(tmp_path_factory):
    home = tmp_path_factory.mktemp("scopes-spark")
    path = home / "principals.json"
    path.write_text(json.dumps({"principals": [ETL, MARKETING]}))
    path.chmod(0o600)
    with local_service(vault=home / "vault.db", principals=Principals.load(path)) as service:
        service.vault = home / "vault.db"
        yield service


def tokens_in(service, scope: str) -> list[str]:
    answer = client_for(service.endpoint, ETL).invoke(
        FunctionName=service.function_name,
        Payload=json.dumps({"requests": [{"data": v} for v in VALUES], "scope": scope}))
    return [r["token"] for r in json.loads(answer["Payload"].read())["responses"]]


def test_safe_detokenize_redacts_a_scope_the_principal_may_not_read(spark, scoped):
    marketing, fraud = tokens_in(scoped, "marketing"), tokens_in(scoped, "fraud")
    with acting_as(spark, scoped, MARKETING, timeout_ms=30011):
        allowed = spark.createDataFrame([(t,) for t in marketing], "t STRING")
        assert [r.v for r in allowed.select(spark_expr("safe_detokenize(t)").alias("v")).collect()] == VALUES
        refused = spark.createDataFrame([(t,) for t in fraud], "t STRING")
        rows = refused.select(spark_expr("safe_detokenize(t)").alias("v")).collect()
        assert [r.v for r in rows] == ["[REDACTED]"] * len(VALUES)
        with pytest.raises(Exception) as failure:
            refused.select(spark_expr("tegridy_detokenize_hp(t)")).collect()
    assert "scoped-spark" not in str(failure.value)


def test_an_erased_token_is_never_read_back_in_spark(spark, scoped):
    marketing = tokens_in(scoped, "marketing")
    erase(f"sqlite://{scoped.vault}", tokens=marketing[:5], reason="DSR-SPARK")
    with acting_as(spark, scoped, MARKETING, timeout_ms=30012, **{"spark.tegridy.onError": "null"}):
        frame = spark.createDataFrame([(t,) for t in marketing], "t STRING")
        rows = frame.select(spark_expr("tegridy_detokenize_hp(t)").alias("v")).collect()
    assert [r.v for r in rows] == [None] * 5 + VALUES[5:]


def service_tokens_in(service, values: list, scope: str, fmt: str | None = None) -> list[str]:
    """The local development service's own tokens for `values` in `scope` (the expected output)."""
    from conftest import lambda_client

    items = [{"data": v, **({"format": fmt} if fmt else {})} for v in values]
    answer = lambda_client(service.endpoint).invoke(FunctionName=service.function_name,
                                                    Payload=json.dumps({"requests": items, "scope": scope}))
    return [r["token"] for r in json.loads(answer["Payload"].read())["responses"]]


@contextmanager
def setting(spark, key: str, value: str | None):
    """The session's `key` set to `value` (None: unset), then put back as it was."""
    previous = spark.conf.get(key, None)

    def put(wanted: str | None) -> None:
        spark.conf.unset(key) if wanted is None else spark.conf.set(key, wanted)

    put(value)
    try:
        yield
    finally:
        put(previous)


def test_a_view_captures_its_scope(spark, service):
    spark.createDataFrame([(v,) for v in VALUES], "email STRING").createOrReplaceTempView("scope_people")
    with setting(spark, "spark.tegridy.scope", "marketing"):
        spark.sql("CREATE OR REPLACE TEMPORARY VIEW marketing_people AS "
                  "SELECT email, tegridy_tokenize_hp(email) AS t FROM scope_people")
    with setting(spark, "spark.tegridy.scope", None):  # the session is back in the default scope; the view is not
        rows = spark.sql("SELECT email, t, tegridy_tokenize_hp(email) AS d FROM marketing_people").collect()
    assert [r.t for r in rows] == service_tokens_in(service, VALUES, "marketing")
    assert [r.d for r in rows] == service_tokens_in(service, VALUES, "default")
    assert all(r.t.startswith("tgr_marketing.") and "." not in r.d for r in rows)


def test_every_function_takes_the_scope_with_the_same_semantics(spark, service):
    from pyspark.sql import functions as F

    from tegridy_tokens import functions as T

    ssns = ["123-45-6789", "987-65-4321"]
    frame = spark.createDataFrame([(v, ssns[i % 2], "email") for i, v in enumerate(VALUES)],
                                  "email STRING, ssn STRING, kind STRING")
    expected = service_tokens_in(service, VALUES, "fraud")
    expected_ssn = dict(zip(ssns, service_tokens_in(service, ssns, "fraud", "ssn")))
    expected_pii = service_tokens_in(service, VALUES, "fraud", "email")  # tokenize_pii: email is a format
    rows = frame.select(
        F.expr("tegridy_tokenize_hp(email, NULL, 'fraud')").alias("sql"), T.tokenize("email", scope="fraud").alias("py"),
        T.try_tokenize("email", scope="fraud").alias("try_"), T.tokenize_result("email", scope="fraud").token.alias("res"),
        T.tokenize_pii("email", F.col("kind"), scope="fraud").alias("pii"),
        T.tokenize_map(F.array("email"), scope="fraud").alias("map"),
        T.tokenize(F.array("email"), scope="fraud").alias("arr"),
        T.tokenize("ssn", format="ssn", scope="fraud").alias("ssn_token"), "ssn").collect()
    for row, token, pii in zip(rows, expected, expected_pii):
        assert row.sql == row.py == row.try_ == row.res == token and row.pii == pii
        assert list(row.map.values()) == [token] and row.arr == [token]
        assert row.ssn_token == expected_ssn[row.ssn]
    with setting(spark, "spark.tegridy.onError", "null"):  # not found is NULL, not a failed query
        got = spark.createDataFrame([(r.py, r.ssn_token) for r in rows], "t STRING, s STRING").select(
            T.detokenize("t").alias("v"), T.detokenize("s", format="ssn", scope="fraud").alias("ssn"),
            T.detokenize("s", format="ssn").alias("wrong_scope")).collect()
    assert [r.v for r in got] == VALUES  # the default-format token carries its scope
    assert [r.ssn for r in got] == [r.ssn for r in rows]
    assert [r.wrong_scope for r in got] == [None] * len(VALUES)  # a format token is found in its own scope only


def test_a_bad_or_non_constant_scope_is_refused_at_analysis(spark):
    frame = spark.createDataFrame([("a@example.com", "marketing")], "email STRING, s STRING")
    with pytest.raises(Exception, match="scope name"):
        frame.select(spark_expr("tegridy_tokenize_hp(email, NULL, 'Marketing')")).collect()
    with pytest.raises(Exception, match="must be a constant STRING"):
        frame.select(spark_expr("tegridy_tokenize_hp(email, NULL, s)")).collect()


def test_an_erased_token_fails_as_erased_under_on_error_fail(spark, scoped):
    marketing = tokens_in(scoped, "marketing")
    erase(f"sqlite://{scoped.vault}", tokens=marketing[-1:], reason="DSR-SPARK-2")
    with acting_as(spark, scoped, MARKETING, timeout_ms=30013):
        frame = spark.createDataFrame([(marketing[-1],)], "t STRING")
        with pytest.raises(Exception) as failure:
            frame.select(spark_expr("tegridy_detokenize_hp(t)")).collect()
    assert "erased" in str(failure.value) and VALUES[-1] not in str(failure.value)



def test_ingestion_with_a_scope_per_column(spark, service, tmp_path):
    from ingest_helpers import land, write_config

    from tegridy_tokens.functions import detokenize
    from tegridy_tokens.ingest.commands import Context, ingest
    from tegridy_tokens.ingest.config import ConfigError, load_config

    rows = [{"id": i, "email": f"canary.scope{i}.q7@example.com", "ssn": f"9{i:02d}-55-{1000 + i:04d}",
             "backup": f"canary.scope{i}.q7@example.com"} for i in range(20)]
    land(tmp_path, "2026-06-01/a.ndjson", rows)
    config = load_config(write_config(tmp_path, expected_file_size_mb=0.05, size_tolerance_percent=99,
                                      pii_columns={"email": "default@marketing", "ssn": "ssn@crm", "backup": "default"}))
    with Context(config, spark=spark) as context:
        result, status = ingest(context, "all")
    assert status == 0 and result["run"]["rows"] == 20, result
    out = sorted(spark.read.parquet(str(tmp_path / "out")).collect(), key=lambda r: int(r["id"]))
    assert [r["email"] for r in out] == service_tokens_in(service, [r["email"] for r in rows], "marketing")
    assert [r["ssn"] for r in out] == service_tokens_in(service, [r["ssn"] for r in rows], "crm", "ssn")
    assert [r["backup"] for r in out] == service_tokens_in(service, [r["backup"] for r in rows], "default")
    assert not {r["email"] for r in out} & {r["backup"] for r in out}  # same values, two scopes: nothing joins
    back = spark.read.parquet(str(tmp_path / "out")).select(
        "id", detokenize("email").alias("email"), detokenize("ssn", "ssn", scope="crm").alias("ssn")).collect()
    assert sorted((int(r["id"]), r["email"], r["ssn"]) for r in back) == [(r["id"], r["email"], r["ssn"]) for r in rows]

    with pytest.raises(ConfigError, match="the scope after '@'"):
        (tmp_path / "bad").mkdir()
        load_config(write_config(tmp_path / "bad", pii_columns={"email": "default@Bad Scope"}))


def test_a_token_erased_after_this_client_read_it_is_erased_not_a_stale_reply(spark, scoped):
    marketing = tokens_in(scoped, "marketing")
    token = marketing[10]  # not among those the other tests erase
    # No cache: each query asks the service, and the client has seen the vault answer this token.
    with acting_as(spark, scoped, MARKETING, timeout_ms=30014, **{"spark.tegridy.cache.maxEntries": "0",
                                                                  "spark.tegridy.onError": "null"}):
        frame = spark.createDataFrame([(token,)], "t STRING")
        assert frame.select(spark_expr("tegridy_detokenize_hp(t)").alias("v")).collect()[0].v == VALUES[10]
        erase(f"sqlite://{scoped.vault}", tokens=[token], reason="DSR-SPARK-3")
        assert frame.select(spark_expr("tegridy_detokenize_hp(t)").alias("v")).collect()[0].v is None
