"""Column helpers: `tokenize(col)`, `detokenize(col)` and `safe_detokenize(col [, role])`, built on `call_function` so that they
also work under Spark Connect once the server has the jar."""

from __future__ import annotations

from typing import Union

from pyspark.sql import Column
from pyspark.sql import functions as F

ColumnOrName = Union[Column, str]


def tokenize(col: ColumnOrName) -> Column:
    """`tegridy_tokenize_hp(col)`: the token of each value.

    >>> df.select(tokenize("email").alias("email_token"))  # doctest: +SKIP
    """
    return F.call_function("tegridy_tokenize_hp", col)


def detokenize(col: ColumnOrName) -> Column:
    """`tegridy_detokenize_hp(col)`: the value behind each token.

    >>> df.select(detokenize("email_token").alias("email"))  # doctest: +SKIP
    """
    return F.call_function("tegridy_detokenize_hp", col)


def safe_detokenize(col: ColumnOrName, role: str | None = None) -> Column:
    """`safe_detokenize(col [, role])`: the value behind each token, or '[REDACTED]' where this job
    may not invoke the detokenize function. `role` is a label for the audit only (docs/security.md).

    >>> df.select(safe_detokenize("email_token", role="support").alias("email"))  # doctest: +SKIP
    """
    if role is None:
        return F.call_function("safe_detokenize", col)
    return F.call_function("safe_detokenize", col, F.lit(role))
