"""The engine jar that travels inside this package (package data), for `spark.jars` and `--jars`."""

from __future__ import annotations

from importlib import resources

JAR_NAME = "tegridy-tokens-spark.jar"


class JarNotFoundError(FileNotFoundError):
    """The package was installed without its jar (a source checkout that was never built)."""


def jar_path() -> str:
    """The absolute path of the bundled engine jar.

    >>> import tegridy_tokens
    >>> tegridy_tokens.jar_path()  # doctest: +SKIP
    '/…/site-packages/tegridy_tokens/jars/tegridy-tokens-spark.jar'
    """
    jar = resources.files("tegridy_tokens").joinpath("jars", JAR_NAME)
    if not jar.is_file():
        raise JarNotFoundError(
            f"the Tegridy engine jar is missing from the package ({JAR_NAME}). In a source checkout, run "
            "`make build` at the repository root: it assembles the jar with sbt and copies it into "
            "python/tegridy_tokens/jars/."
        )
    return str(jar)
