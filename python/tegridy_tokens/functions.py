"""Column helpers, one per SQL function (docs/functions.md), built on `call_function` so that they
also work under Spark Connect once the server has the jar. A `format` or `data_type` may be a
Column (it may differ per row) or a plain string. Every helper takes `scope`, a constant scope
name for that call (None: spark.tegridy.scope), sent as the SQL function's last argument."""

from __future__ import annotations

from typing import Union

from pyspark.sql import Column
from pyspark.sql import functions as F

ColumnOrName = Union[Column, str]


def _text(value: Union[Column, str, None]) -> Column:
    # A plain string here is a format or type name, not a column name.
    return value if isinstance(value, Column) else F.lit(value)


def _call(name: str, *arguments: Column, scope: str | None = None) -> Column:
    """`name(arguments…[, scope])`: the scope, when given, is the last argument, a constant."""
    return F.call_function(name, *arguments, *([F.lit(scope)] if scope is not None else []))


def _with_format(name: str, col: ColumnOrName, format: Union[Column, str, None], scope: str | None) -> Column:
    # A scope without a format still needs the format's place: NULL is the default format.
    if format is None and scope is None:
        return F.call_function(name, col)
    return _call(name, col, _text(format).cast("string"), scope=scope)


def tokenize(col: ColumnOrName, format: Union[Column, str, None] = None, scope: str | None = None) -> Column:
    """`tegridy_tokenize_hp(col [, format [, scope]])`: the token of each value (or array element);
    with a format (ssn, credit_card, phone, email), a format-preserving token; with a scope, that
    scope's token (tokens of two scopes are unrelated).

    >>> df.select(tokenize("email", scope="marketing"), tokenize("ssn", format="ssn"))  # doctest: +SKIP
    """
    return _with_format("tegridy_tokenize_hp", col, format, scope)


def detokenize(col: ColumnOrName, format: Union[Column, str, None] = None, scope: str | None = None) -> Column:
    """`tegridy_detokenize_hp(col [, format [, scope]])`: the value behind each token. A
    default-format token carries its scope; a format-preserving one needs the scope it was made in.

    >>> df.select(detokenize("email_token").alias("email"))  # doctest: +SKIP
    """
    return _with_format("tegridy_detokenize_hp", col, format, scope)


def safe_detokenize(col: ColumnOrName, role: str | None = None, scope: str | None = None) -> Column:
    """`safe_detokenize(col [, role [, scope]])`: the value behind each token, or '[REDACTED]' where
    this job may not invoke the detokenize function or read the token's scope. `role` is a label
    for the audit only (docs/security.md).

    >>> df.select(safe_detokenize("email_token", role="support").alias("email"))  # doctest: +SKIP
    """
    if role is None and scope is None:
        return F.call_function("safe_detokenize", col)
    return _call("safe_detokenize", col, F.lit(role).cast("string"), scope=scope)


def tokenize_map(col: ColumnOrName, scope: str | None = None) -> Column:
    """`tegridy_tokenize_map(col [, scope])`: a map from each distinct non-blank element of an array to its token."""
    return _call("tegridy_tokenize_map", col, scope=scope)


def conditional_tokenize(col: ColumnOrName, condition: Column, scope: str | None = None) -> Column:
    """`tegridy_conditional_tokenize(col, condition [, scope])`: the token where `condition` is true,
    else the value; values whose condition is not true are never sent."""
    return _call("tegridy_conditional_tokenize", col, condition, scope=scope)


def tokenize_format(col: ColumnOrName, format: Union[Column, str], scope: str | None = None) -> Column:
    """`tegridy_tokenize_format(col, format [, scope])`: the seed's name for `tokenize(col, format)`."""
    return _call("tegridy_tokenize_format", col, _text(format), scope=scope)


def try_tokenize(col: ColumnOrName, format: Union[Column, str, None] = None, scope: str | None = None) -> Column:
    """`tegridy_try_tokenize(col [, format [, scope]])`: the token, or NULL for a value the service
    (or its format) refused (counted)."""
    return _with_format("tegridy_try_tokenize", col, format, scope)


def tokenize_result(col: ColumnOrName, format: Union[Column, str, None] = None, scope: str | None = None) -> Column:
    """`tegridy_tokenize_result(col [, format [, scope]])`: STRUCT<token, error>, the error why a value
    failed (never the value)."""
    return _with_format("tegridy_tokenize_result", col, format, scope)


def tokenize_pii(col: ColumnOrName, data_type: Union[Column, str], scope: str | None = None) -> Column:
    """`tokenize_pii(col, data_type [, scope])`: the token when `data_type` is one of
    spark.tegridy.pii.types, else the value unchanged (and never sent). `data_type` is usually a
    column of types."""
    return _call("tokenize_pii", col, _text(data_type), scope=scope)
