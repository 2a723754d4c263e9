"""One jar per Spark line in the package: the one matching the running pyspark is picked, a line can
be named, and an unsupported Spark is a clear error that lists the supported lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyspark
import pytest

import tegridy_tokens
from tegridy_tokens.jar import SUPPORTED_SPARK_LINES, UnsupportedSparkVersionError


@pytest.mark.parametrize("version, line", [("3.5.9", "3.5"), ("3.5.0", "3.5"), ("4.0.4", "4.0"), ("4.1.3", "4.1"),
                                           ("4.2.0", "4.2"), ("4.2.1.dev0", "4.2")])
def test_the_jar_of_the_running_pyspark_is_picked(monkeypatch, version, line):
    monkeypatch.setattr(pyspark, "__version__", version)
    assert Path(tegridy_tokens.jar_path()).name == f"tegridy-tokens-spark-{line}.jar"


@pytest.mark.parametrize("version", ["3.4.1", "4.3.0", "2.4.8", "4"])
def test_an_unsupported_pyspark_is_a_clear_error_listing_the_lines(monkeypatch, version):
    monkeypatch.setattr(pyspark, "__version__", version)
    with pytest.raises(UnsupportedSparkVersionError) as raised:
        tegridy_tokens.jar_path()
    assert repr(version) in str(raised.value) and "3.5, 4.0, 4.1, 4.2" in str(raised.value)


def test_a_line_can_be_named_whatever_pyspark_runs(monkeypatch):
    monkeypatch.setattr(pyspark, "__version__", "4.2.0")
    assert Path(tegridy_tokens.jar_path(spark_version="3.5")).name == "tegridy-tokens-spark-3.5.jar"
    assert Path(tegridy_tokens.jar_path(spark_version="4.1.3")).name == "tegridy-tokens-spark-4.1.jar"
    with pytest.raises(UnsupportedSparkVersionError, match="3.5, 4.0, 4.1, 4.2"):
        tegridy_tokens.jar_path(spark_version="3.4")


def test_every_line_has_its_jar_in_the_package():
    jars = {Path(tegridy_tokens.jar_path(spark_version=line)).name for line in SUPPORTED_SPARK_LINES}
    assert jars == {f"tegridy-tokens-spark-{line}.jar" for line in ("3.5", "4.0", "4.1", "4.2")}


def test_configure_spark_adds_the_jar_of_the_running_pyspark(monkeypatch):
    from pyspark.sql import SparkSession

    monkeypatch.setattr(pyspark, "__version__", "3.5.9")
    builder = tegridy_tokens.configure_spark(SparkSession.Builder(), function_name="f")
    assert builder._options["spark.jars"].endswith("tegridy-tokens-spark-3.5.jar")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_without_pyspark_a_line_must_be_named():
    done = _run("import sys; sys.modules['pyspark'] = None\n"
                "import tegridy_tokens\n"
                "print(tegridy_tokens.jar_path(spark_version='3.5'))\n"
                "tegridy_tokens.jar_path()")
    assert done.stdout.strip().endswith("tegridy-tokens-spark-3.5.jar")
    assert "UnsupportedSparkVersionError" in done.stderr and "pyspark is not installed" in done.stderr
    assert "--spark X.Y" in done.stderr


def test_cli_jar_for_a_named_line_and_a_clear_error_for_an_unsupported_one():
    script = str(Path(sys.executable).with_name("tegridy-tokens"))
    named = subprocess.run([script, "jar", "--spark", "3.5"], capture_output=True, text=True, check=True)
    assert named.stdout.strip() == tegridy_tokens.jar_path(spark_version="3.5")
    unsupported = subprocess.run([script, "jar", "--spark", "3.4"], capture_output=True, text=True)
    assert unsupported.returncode == 1 and "3.5, 4.0, 4.1, 4.2" in unsupported.stderr


def test_the_cli_and_the_service_never_import_pyspark():
    done = _run("import sys\n"
                "import tegridy_tokens, tegridy_tokens.cli, tegridy_tokens.service.handler, tegridy_tokens.ingest.cli\n"
                "tegridy_tokens.cli.main(['jar', '--spark', '4.0'])\n"
                "print('pyspark' in sys.modules)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines() == [tegridy_tokens.jar_path(spark_version="4.0"), "False"]


def test_the_lines_are_the_same_in_the_build_the_makefile_and_the_package():
    import re

    from conftest import REPO

    build = dict(re.findall(r'SparkLine\("(\d\.\d)", "([\d.]+)"', (REPO / "project" / "SparkLines.scala").read_text()))
    assert tuple(sorted(build)) == SUPPORTED_SPARK_LINES
    makefile = (REPO / "Makefile").read_text()
    default = re.search(r"^DEFAULT_LINE := (\S+)", makefile, re.M).group(1)
    pins = dict(re.findall(r"^PYSPARK_(\d\.\d) := (\S+)", makefile, re.M))
    assert pins == {line: version for line, version in build.items() if line != default}
    # The default line's pyspark is the `test` extra's (the main .venv).
    assert f'"pyspark[connect]=={build[default]}"' in (REPO / "pyproject.toml").read_text()
    assert 'val default: SparkLine = spark' + default.replace(".", "") in (REPO / "project" / "SparkLines.scala").read_text()
