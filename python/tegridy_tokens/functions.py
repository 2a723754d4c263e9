"""Column helpers, one per SQL function (docs/functions.md), built on `call_function` so that they
also work under Spark Connect once the server has the jar. A `format` or `data_type` may be a
Column (it may differ per row) or a plain string."""

from __future__ import annotations

from typing import Union

from pyspark.sql import Column
from pyspark.sql import functions as F

ColumnOrName = Union[Column, str]


def _text(value: Union[Column, str]) -> Column:
    # A plain string here is a format or type name, not a column name.
    return value if isinstance(value, Column) else F.lit(value)


def tokenize(col: ColumnOrName, format: Union[Column, str, None] = None) -> Column:
    """`tegridy_tokenize_hp(col [, format])`: the token of each value (or array element); with a
    format (ssn, credit_card, phone, email), a format-preserving token.

    >>> df.select(tokenize("email").alias("email_token"), tokenize("ssn", format="ssn"))  # doctest: +SKIP
    """
    if format is None:
        return F.call_function("tegridy_tokenize_hp", col)
    return F.call_function("tegridy_tokenize_hp", col, _text(format))


def detokenize(col: ColumnOrName, format: Union[Column, str, None] = None) -> Column:
    """`tegridy_detokenize_hp(col [, format])`: the value behind each token.

    >>> df.select(detokenize("email_token").alias("email"))  # doctest: +SKIP
    """
    if format is None:
        return F.call_function("tegridy_detokenize_hp", col)
    return F.call_function("tegridy_detokenize_hp", col, _text(format))


def safe_detokenize(col: ColumnOrName, role: str | None = None) -> Column:
    """`safe_detokenize(col [, role])`: the value behind each token, or '[REDACTED]' where this job
    may not invoke the detokenize function. `role` is a label for the audit only (docs/security.md).

    >>> df.select(safe_detokenize("email_token", role="support").alias("email"))  # doctest: +SKIP
    """
    if role is None:
        return F.call_function("safe_detokenize", col)
    return F.call_function("safe_detokenize", col, F.lit(role))


def tokenize_map(col: ColumnOrName) -> Column:
    """`tegridy_tokenize_map(col)`: a map from each distinct non-blank element of an array to its token."""
    return F.call_function("tegridy_tokenize_map", col)


def conditional_tokenize(col: ColumnOrName, condition: Column) -> Column:
    """`tegridy_conditional_tokenize(col, condition)`: the token where `condition` is true, else the
    value; values whose condition is not true are never sent."""
    return F.call_function("tegridy_conditional_tokenize", col, condition)


def tokenize_format(col: ColumnOrName, format: Union[Column, str]) -> Column:
    """`tegridy_tokenize_format(col, format)`: the seed's name for `tokenize(col, format)`."""
    return F.call_function("tegridy_tokenize_format", col, _text(format))


def try_tokenize(col: ColumnOrName) -> Column:
    """`tegridy_try_tokenize(col)`: the token, or NULL for a value the service refused (counted)."""
    return F.call_function("tegridy_try_tokenize", col)


def tokenize_result(col: ColumnOrName) -> Column:
    """`tegridy_tokenize_result(col)`: STRUCT<token, error>, the error why a value failed (never the value)."""
    return F.call_function("tegridy_tokenize_result", col)


def tokenize_pii(col: ColumnOrName, data_type: Union[Column, str]) -> Column:
    """`tokenize_pii(col, data_type)`: the token when `data_type` is one of spark.tegridy.pii.types,
    else the value unchanged (and never sent). `data_type` is usually a column of types."""
    return F.call_function("tokenize_pii", col, _text(data_type))
