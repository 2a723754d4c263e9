"""The Python surface around the engine: lazy names in dir()/help(), typed settings and their
did-you-mean check, Connect detection, and reading metrics (reset, one block with `measure`)
from a real local Spark against the real reference service."""

from __future__ import annotations

import math
import pydoc
import subprocess
import sys
import uuid
from importlib import resources

import pytest

import tegridy_tokens
from tegridy_tokens.meter import percentile_ms
from tegridy_tokens.settings import SETTING_KEYS, TegridySettings, UnknownSettingError

CONTRACT_KEYS = {"rows", "cache_hits", "invocations", "values_sent", "retries", "throttles", "errors",
                 "bytes_sent", "bytes_received", "latency_ms_p50", "latency_ms_p95", "latency_ms_p99"}
LATENCY_KEYS = ("latency_ms_p50", "latency_ms_p95", "latency_ms_p99")


def test_dir_and_help_list_the_lazy_names():
    assert {"functions", "tokenize", "detokenize", "measure", "metrics"} <= set(dir(tegridy_tokens))
    text = pydoc.render_doc(tegridy_tokens, renderer=pydoc.plaintext)
    assert "tokenize(col" in text and "detokenize(col" in text


def test_typed_settings_are_the_setting_keys():
    assert set(TegridySettings.__annotations__) == set(SETTING_KEYS)
    assert SETTING_KEYS["retry_item_attempts"] == "spark.tegridy.retry.itemAttempts"
    assert resources.files("tegridy_tokens").joinpath("py.typed").is_file()


def test_configure_spark_passes_typed_settings_as_spark_conf():
    from pyspark.sql import SparkSession

    builder = tegridy_tokens.configure_spark(SparkSession.Builder(), retry_item_attempts=5, on_error="null")
    assert builder._options["spark.tegridy.retry.itemAttempts"] == "5"
    assert builder._options["spark.tegridy.onError"] == "null"
    assert builder._options["spark.jars"] == tegridy_tokens.jar_path()


def test_configure_spark_on_a_connect_builder_adds_only_settings():
    from pyspark.sql import SparkSession

    builder = tegridy_tokens.configure_spark(SparkSession.Builder().remote("sc://127.0.0.1:1"), batch_max_rows=9)
    assert builder._options["spark.tegridy.batch.maxRows"] == "9"
    assert "spark.jars" not in builder._options and "spark.sql.extensions" not in builder._options


@pytest.mark.parametrize("typo, closest", [("batch_max_row", "batch_max_rows"), ("on_eror", "on_error"),
                                           ("retry_item_attempt", "retry_item_attempts")])
def test_unknown_setting_names_the_closest(typo, closest):
    from pyspark.sql import SparkSession

    with pytest.raises(UnknownSettingError, match=f"did you mean '{closest}'"):
        tegridy_tokens.configure_spark(SparkSession.Builder(), **{typo: 1})
    # register checks names before it touches the session.
    with pytest.raises(UnknownSettingError, match=f"did you mean '{closest}'"):
        tegridy_tokens.register(object(), **{typo: 1})


def test_unknown_setting_far_from_all_lists_them_without_a_guess():
    with pytest.raises(TypeError) as raised:
        tegridy_tokens.register(object(), colour="blue")
    assert "did you mean" not in str(raised.value) and "function_name" in str(raised.value)


def test_connect_detection_imports_no_connect_module():
    # With the Connect client's grpc missing, detection must still answer (and import nothing).
    code = ("import sys; sys.modules['grpc'] = None; import pyspark.sql, tegridy_tokens; "
            "from tegridy_tokens.connect import is_connect; "
            "print(is_connect(object()), 'pyspark.sql.connect.session' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("listed", [False, True], ids=["not-in-catalog", "listed-but-unresolvable"])
def test_metrics_on_a_connect_server_without_the_function_is_our_error(listed):
    from pyspark.errors.exceptions.connect import AnalysisException
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    class Catalog:
        def functionExists(self, name):
            return listed

    class ServerWithoutTheJar(ConnectSession):
        catalog = Catalog()

        def __init__(self) -> None:  # no server: only `catalog` and `sql` are used
            pass

        def sql(self, query, *args, **kwargs):
            raise AnalysisException(message="[UNRESOLVABLE_TABLE_VALUED_FUNCTION] Could not resolve "
                                    "`tegridy_metrics` to a table-valued function.",
                                    errorClass="UNRESOLVABLE_TABLE_VALUED_FUNCTION")

    with pytest.raises(tegridy_tokens.TegridyConnectError, match="spark.sql.extensions=com.tegridy"):
        tegridy_tokens.metrics(ServerWithoutTheJar())
    with pytest.raises(tegridy_tokens.TegridyConnectError, match="reset"):
        tegridy_tokens.metrics(ServerWithoutTheJar(), reset=True)


def test_percentile_of_the_difference_of_two_histograms():
    before = [(1.0, 0), (2.0, 10), (4.0, 0), (8.0, 0)]
    after = [(1.0, 0), (2.0, 50), (4.0, 45), (8.0, 5)]  # between: 40 at 2 ms, 45 at 4 ms, 5 at 8 ms
    assert percentile_ms(before, after, 0.50) == 4.0
    assert percentile_ms(before, after, 0.95) == 8.0
    assert percentile_ms(before, before, 0.50) == 0.0


def _tokenize(spark, prefix: str, rows: int, distinct: int, partitions: int = 4) -> None:
    spark.range(0, rows, 1, partitions).selectExpr(
        f"tegridy_tokenize_hp(concat('{prefix}', id % {distinct}, '@example.com')) AS t"
    ).write.format("noop").mode("overwrite").save()


def _sent_since(service, start: int) -> list:
    return [item.get("data") for event in service.received[start:] for item in event.get("requests", [])]


def test_classic_session_is_not_connect(spark):
    from tegridy_tokens.connect import is_connect

    assert not is_connect(spark)


def test_measure_holds_one_block_of_work(spark, service):
    prefix = f"measure-{uuid.uuid4().hex[:8]}-"
    _tokenize(spark, prefix + "outside-", rows=300, distinct=300)  # before the block: not counted
    start_events = len(service.received)
    with tegridy_tokens.measure(spark) as measured:
        _tokenize(spark, prefix, rows=400, distinct=200)
    figures = measured.metrics
    events = service.received[start_events:]

    assert CONTRACT_KEYS <= set(figures)
    assert figures["rows"] == 400
    assert figures["values_sent"] == len(_sent_since(service, start_events)) == 200
    assert figures["invocations"] == len(events) > 0
    assert 0 < figures["latency_ms_p50"] <= figures["latency_ms_p95"] <= figures["latency_ms_p99"]


def test_metrics_reset_returns_the_figures_then_zeroes_them(spark, service):
    prefix = f"reset-{uuid.uuid4().hex[:8]}-"
    _tokenize(spark, prefix + "before-", rows=50, distinct=50)
    returned = tegridy_tokens.metrics(spark, reset=True)
    assert returned["rows"] >= 50 and returned["invocations"] >= 1

    zeroed = tegridy_tokens.metrics(spark)
    assert all(value == 0 for value in zeroed.values()), zeroed

    with tegridy_tokens.measure(spark) as measured:
        _tokenize(spark, prefix, rows=60, distinct=30)
    after = tegridy_tokens.metrics(spark)
    assert after["rows"] == measured.metrics["rows"] == 60
    # Since the reset the block is all there is, so the percentiles Python takes from the
    # histogram's difference must be the engine's own.
    for key in LATENCY_KEYS:
        assert after[key] > 0 and not math.isnan(measured.metrics[key])
        assert measured.metrics[key] == pytest.approx(after[key], rel=1e-9)
