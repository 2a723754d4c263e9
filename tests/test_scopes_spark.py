"""Scopes and erasure seen from Spark, with the real jar against the reference service over HTTP:
a principal allowed one scope gets values there and '[REDACTED]' from safe_detokenize in another
(default-format tokens carry their scope, so the service finds it from the token); an erased
token is never read back as a value."""

from __future__ import annotations

import json

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
