"""The engine jars that travel inside this package (package data), one per Spark line, and the
choice of the one that matches the running pyspark, for `spark.jars` and `--jars`."""

from __future__ import annotations

from importlib import resources

# The Spark lines a jar is built for (build.sbt's project/SparkLines.scala), oldest first.
SUPPORTED_SPARK_LINES = ("3.5", "4.0", "4.1", "4.2")


class JarNotFoundError(FileNotFoundError):
    """The package was installed without its jars (a source checkout that was never built)."""


class UnsupportedSparkVersionError(ValueError):
    """No jar is built for this Spark version, or there is no pyspark to tell which one to pick."""


def jar_name(spark_line: str) -> str:
    """The file name of one line's jar, e.g. `tegridy-tokens-spark-3.5.jar`."""
    return f"tegridy-tokens-spark-{spark_line}.jar"


def spark_line(version: str) -> str:
    """The supported line ("3.5" … "4.2") a Spark version ("3.5.9", "4.1", "4.2.0.dev1") belongs to."""
    parts = str(version).strip().split(".")
    line = ".".join(parts[:2])
    if len(parts) < 2 or line not in SUPPORTED_SPARK_LINES:
        raise UnsupportedSparkVersionError(
            f"Spark {version!r} is not supported: this package carries a jar for each of the Spark lines "
            f"{', '.join(SUPPORTED_SPARK_LINES)} and no other; run on one of those lines."
        )
    return line


def running_spark_line() -> str:
    """The line of the pyspark this Python imports (`pyspark.__version__`)."""
    try:
        import pyspark
    except ImportError:
        raise UnsupportedSparkVersionError(
            "cannot tell which Spark line's jar to use: pyspark is not installed here. Install it "
            "(`pip install 'tegridy-tokens[spark]'`, or use the cluster's own), or name the line: "
            f"jar_path(spark_version=...) / `tegridy-tokens jar --spark X.Y`, X.Y one of "
            f"{', '.join(SUPPORTED_SPARK_LINES)}."
        ) from None
    return spark_line(pyspark.__version__)


def jar_path(spark_version: str | None = None) -> str:
    """The absolute path of the bundled engine jar for a Spark line: `spark_version` ("3.5" or a full
    version such as "3.5.9"), by default the line of the installed pyspark.

    >>> import tegridy_tokens
    >>> tegridy_tokens.jar_path()  # doctest: +SKIP
    '/…/site-packages/tegridy_tokens/jars/tegridy-tokens-spark-4.2.jar'
    >>> tegridy_tokens.jar_path(spark_version="3.5")  # doctest: +SKIP
    '/…/site-packages/tegridy_tokens/jars/tegridy-tokens-spark-3.5.jar'
    """
    line = running_spark_line() if spark_version is None else spark_line(spark_version)
    name = jar_name(line)
    jar = resources.files("tegridy_tokens").joinpath("jars", name)
    if not jar.is_file():
        raise JarNotFoundError(
            f"the Tegridy engine jar for Spark {line} is missing from the package ({name}). In a source "
            "checkout, run `make build` at the repository root: it assembles one jar per Spark line with "
            "sbt and copies them into python/tegridy_tokens/jars/."
        )
    return str(jar)
