"""Tegridy Tokens for Spark: `tegridy_tokenize_hp(col)` in Spark SQL, batched to a Lambda.

pyspark is imported only when a Spark helper is used, so the reference service
(`tegridy_tokens.service`) deploys to AWS Lambda without it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .connect import TegridyConnectError
from .cost import cost, estimate_cost
from .engine import JarNotOnClasspathError
from .jar import SUPPORTED_SPARK_LINES, JarNotFoundError, UnsupportedSparkVersionError, jar_path
from .meter import Measurement, measure, metrics
from .settings import TegridySettings, UnknownSettingError
from .spark import configure_spark, register

# Loaded on first use because they import pyspark (see the module docstring).
_LAZY = ("functions", "tokenize", "detokenize")

__all__ = [
    "configure_spark",
    "register",
    "metrics",
    "measure",
    "cost",
    "estimate_cost",
    "Measurement",
    "jar_path",
    "functions",
    "tokenize",
    "detokenize",
    "TegridySettings",
    "JarNotFoundError",
    "UnsupportedSparkVersionError",
    "SUPPORTED_SPARK_LINES",
    "JarNotOnClasspathError",
    "TegridyConnectError",
    "UnknownSettingError",
]


def __getattr__(name: str) -> Any:
    if name == "functions":
        return import_module(".functions", __name__)
    if name in ("tokenize", "detokenize"):
        return getattr(import_module(".functions", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    # dir() and help() list a module's globals only; the lazy names are not globals until loaded.
    return sorted(set(globals()) | set(_LAZY))
