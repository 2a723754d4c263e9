"""Tegridy Tokens for Spark: `tegridy_tokenize_hp(col)` in Spark SQL, batched to a Lambda.

pyspark is imported only when a Spark helper is used, so the reference service
(`tegridy_tokens.service`) deploys to AWS Lambda without it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .jar import JarNotFoundError, jar_path
from .spark import JarNotOnClasspathError, configure_spark, metrics, register

__all__ = [
    "configure_spark",
    "register",
    "metrics",
    "jar_path",
    "functions",
    "tokenize",
    "detokenize",
    "JarNotFoundError",
    "JarNotOnClasspathError",
]


def __getattr__(name: str) -> Any:
    if name == "functions":
        return import_module(".functions", __name__)
    if name in ("tokenize", "detokenize"):
        return getattr(import_module(".functions", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
