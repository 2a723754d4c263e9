"""How a corrupt line is kept: its exact bytes (without the `\\n` that ends it) as a tagged text,
which is then tokenized into `_corrupt_record_token`. A line that is valid UTF-8 is kept readable
as `text:<the line>`; any other line as `base64:<standard base64 of its bytes>` (RFC 4648, with
padding; Spark may wrap it in line breaks, which decoders skip). Both are lossless, so
detokenizing and `decode_line` give back the bytes exactly: invalid UTF-8, NUL and CR included.

A line is corrupt when it is not a JSON object, or when it is one but is not valid UTF-8 (Spark's
JSON reader would replace the bad bytes with U+FFFD and alter the data silently)."""

from __future__ import annotations

import base64
from typing import Any

TEXT, BASE64 = "text:", "base64:"
NOT_JSON, NOT_UTF8 = "not a JSON object", "not valid UTF-8"


def decode_line(kept: str) -> bytes:
    """The original bytes of a corrupt line from its detokenized `_corrupt_record_token`."""
    if kept.startswith(TEXT):
        return kept[len(TEXT):].encode("utf-8")
    if kept.startswith(BASE64):
        return base64.b64decode(kept[len(BASE64):])
    raise ValueError(f"a kept corrupt line starts with {TEXT!r} or {BASE64!r}; this one does not")


def is_valid_utf8(value: Any) -> Any:
    """A Column: is the string column's raw byte content valid UTF-8? Its bytes equal themselves
    decoded and encoded again, as decoding replaces each bad byte with U+FFFD. One expression
    for every Spark line (3.5 has no `is_valid_utf8`)."""
    from pyspark.sql import functions as F

    return F.encode(value, "UTF-8") == value.cast("binary")


def kept_line(value: Any, valid_utf8: Any) -> Any:
    """A Column: the tagged text of a line (see the module's note), to be tokenized."""
    from pyspark.sql import functions as F

    return F.when(valid_utf8, F.concat(F.lit(TEXT), value)) \
        .otherwise(F.concat(F.lit(BASE64), F.base64(value.cast("binary"))))
