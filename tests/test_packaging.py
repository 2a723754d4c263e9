"""The installed package carries one engine jar per Spark line and the command line finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import tegridy_tokens

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("line", tegridy_tokens.SUPPORTED_SPARK_LINES)
def test_each_lines_jar_exists_and_holds_the_extension(line):
    jar = Path(tegridy_tokens.jar_path(spark_version=line))
    assert jar.is_file() and jar.name == f"tegridy-tokens-spark-{line}.jar"
    with zipfile.ZipFile(jar) as archive:
        names = set(archive.namelist())
        built_for = archive.read("com/tegridy/spark/BuiltFor$.class")
    assert "com/tegridy/spark/TegridyExtensions.class" in names
    assert "com/tegridy/spark/expressions/TegridyTokenizeExpression.class" in names
    assert not any(name.startswith(("scala/", "io/netty/", "org/apache/http/", "com/fasterxml/jackson/")) for name in names)
    # Compiled for its own line (the extension refuses to load on another one).
    assert f"{line}.".encode() in built_for


def test_cli_prints_the_jar_path():
    script = Path(sys.executable).with_name("tegridy-tokens")
    output = subprocess.run([str(script), "jar"], check=True, capture_output=True, text=True).stdout.strip()
    assert output == tegridy_tokens.jar_path()


def test_unknown_setting_is_a_clear_error():
    from pyspark.sql import SparkSession

    try:
        tegridy_tokens.configure_spark(SparkSession.builder, function_nme="x")
    except TypeError as error:
        assert "function_nme" in str(error) and "function_name" in str(error)
    else:
        raise AssertionError("a misspelt setting was accepted")


def test_service_imports_without_pyspark():
    code = "import sys; sys.modules['pyspark'] = None; import tegridy_tokens.service.handler; print('ok')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "ok"


def test_the_wheel_carries_the_license(tmp_path):
    """The Apache-2.0 text the metadata declares travels in the wheel (PEP 639 license-files)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(REPO)],
                   check=True, timeout=600)
    wheel = next(tmp_path.glob("tegridy_tokens-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        licenses = [n for n in archive.namelist() if n.endswith("/LICENSE") and ".dist-info/" in n]
        assert licenses, archive.namelist()[-10:]
        text = archive.read(licenses[0]).decode()
    assert "Apache License" in text and "Version 2.0" in text
    assert (REPO / "LICENSE").read_text() == text
