"""The Spark job of one manifest: NDJSON lines -> tokenized, all-string Parquet in a staging
folder, with `tegridy_tokenize_hp` on the way in.

Two passes over the text. The first collects the top-level keys of every line (the schema:
one string column per key) and counts the lines that are not JSON objects. The second parses
each line with that schema, where Spark's JSON parser hands nested objects and arrays back as
their JSON text, tokenizes the PII columns and adds the metadata columns. A line that is not a
JSON object, or is one but not valid UTF-8, is never dropped nor altered: its exact bytes, in
the lossless text of `corrupt`, are tokenized (the line may hold PII) and written to the
manifest's corrupt output with the reason. Blank lines (spaces, tabs, CR) are not records."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

METADATA = ("_source_file", "_ingested_at", "_manifest_id", "_ingest_date")
CORRUPT_COLUMN = "_corrupt_record_token"
REASON_COLUMN = "_corrupt_reason"
# The rows' parser accepts what the survey's `json_object_keys` accepts (raw control characters
# inside strings), so a line the survey calls an object never parses to a row of NULLs.
JSON_OPTIONS = {"allowUnquotedControlChars": "true"}
# Snappy Parquet of all-string NDJSON is about this fraction of the input bytes (measured on the
# benchmark's data: 0.11 plain, 0.15 tokenized, with the dictionaries below); used only to
# choose how many files make `target_file_size_mb`.
PARQUET_TO_INPUT = 0.15
# Tokens are long and high-entropy, so a token column only compresses through its dictionary;
# Parquet's default 1 MiB dictionary page holds ~20K tokens, after which the column falls back
# to plain encoding. 8 MiB keeps a column of ~170K distinct tokens dictionary-encoded.
PARQUET_OPTIONS = {"compression": "snappy", "parquet.dictionary.page.size": str(8 * 1024 * 1024)}


class ConversionError(Exception):
    """The data cannot be converted as configured; the message names columns, never values."""


@dataclass(frozen=True)
class Converted:
    rows: int
    corrupt_rows: int
    columns: list[str]
    output_files: int


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def convert(spark: Any, inputs: list[str], staging: str, ingested_at: str, pii_columns: dict[str, str],
            input_bytes: int, target_file_bytes: int, tokenize: bool = True) -> Converted:
    """Writes `<staging>/data` (the rows) and, when there are any, `<staging>/corrupt` (tokens of
    the malformed lines); both are overwritten, so a re-run replaces a dead run's leftovers.
    `_manifest_id` and `_ingest_date` are not in the files: they are the partition folders that
    the commit (`run`) moves the staged output into."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    from ..functions import tokenize as token_of
    from .config import split_pii_spec
    from .corrupt import NOT_JSON, NOT_UTF8, is_valid_utf8, kept_line

    # Lines end at \n only: a CR inside a line is its data (a CRLF file's lines end in a CR,
    # which JSON treats as whitespace), so a corrupt line is kept with every byte it had.
    text = spark.read.option("lineSep", "\n").text(inputs) \
        .select("value", F.col("_metadata.file_path").alias("_source_file"))
    valid = is_valid_utf8(F.col("value"))
    blank = F.expr("trim(BOTH ' \\t\\r' FROM value)") == ""
    text = text.withColumn("_utf8", valid).withColumn("_keys", F.when(F.col("_utf8"), F.json_object_keys("value")))
    is_row = F.col("_keys").isNotNull()
    is_corrupt = F.col("_keys").isNull() & ~blank
    survey = text.agg(F.array_distinct(F.flatten(F.collect_set("_keys"))).alias("keys"),
                      F.count(F.when(is_corrupt, 1)).alias("malformed")).first()
    keys = sorted(survey["keys"] or [])
    clashes = sorted(set(keys) & (set(METADATA) | {CORRUPT_COLUMN, REASON_COLUMN}))
    if clashes:
        raise ConversionError(f"the data has key(s) {', '.join(clashes)}, which are the pipeline's metadata columns; "
                              "rename them at the source")
    folded: dict[str, list[str]] = {}
    for key in keys:
        folded.setdefault(key.lower(), []).append(key)
    twins = sorted("/".join(group) for group in folded.values() if len(group) > 1)
    if twins:
        raise ConversionError(f"the data has keys that differ only in case ({', '.join(twins)}); Spark and most "
                              "Parquet readers resolve columns case-insensitively, so rename them at the source")
    # PII names match keys case-insensitively: an `Email` key is tokenized under `email = ...`
    # rather than left in plaintext over a spelling.
    formats = {name.lower(): fmt for name, fmt in pii_columns.items()}
    pii = {key for key in keys if key.lower() in formats}
    nested = sorted(name for name in pii_columns if "." in name and name.lower() not in folded)
    if nested:
        raise ConversionError(f"pii_columns {', '.join(nested)} name nested fields; pii_columns are top-level keys: "
                              "tokenize the whole top-level column (its JSON text) or flatten the data at the source")
    schema = StructType([StructField(key, StringType()) for key in keys])
    # Configured PII columns absent from this manifest are still written (as NULL), so that every
    # manifest's Parquet has the same PII columns.
    missing = sorted(name for name in pii_columns if name.lower() not in folded)
    names = keys + missing
    metadata = [F.col("_source_file"), F.lit(ingested_at).alias("_ingested_at")]

    def column(name: str) -> Any:
        value = F.col("_row." + _quoted(name)) if name in keys else F.lit(None).cast("string")
        if name in pii and tokenize:
            fmt, scope = split_pii_spec(formats[name.lower()])
            value = token_of(value, None if fmt == "default" else fmt, scope=scope)
        return value.alias(name)

    parsed = text.where(is_row).withColumn("_row", F.from_json("value", schema, JSON_OPTIONS))
    rows = parsed.select(*[column(name) for name in names], *metadata)
    # Partitions are merged without a shuffle and never below one per core: a shuffle to fewer
    # files than cores sends every tokenized row across once more and leaves the Parquet write to
    # fewer cores. So a small manifest is written as up to one file per core, each smaller than
    # target_file_size_mb, and a large one as about target_file_size_mb per file.
    partitions = max(1, math.ceil(input_bytes * PARQUET_TO_INPUT / target_file_bytes),
                     spark.sparkContext.defaultParallelism)
    if partitions < rows.rdd.getNumPartitions():
        rows = rows.coalesce(partitions)
    rows.write.mode("overwrite").options(**PARQUET_OPTIONS).parquet(staging + "/data")
    written = spark.read.parquet(staging + "/data")
    count = written.count()
    output_files = len(written.inputFiles())

    corrupt = 0
    if survey["malformed"]:
        lines = text.where(is_corrupt)
        kept = kept_line(F.col("value"), F.col("_utf8"))
        value = token_of(kept) if tokenize else F.lit(None).cast("string")
        reason = F.when(F.col("_utf8"), F.lit(NOT_JSON)).otherwise(F.lit(NOT_UTF8))
        lines.select(value.alias(CORRUPT_COLUMN), reason.alias(REASON_COLUMN), *metadata).coalesce(1) \
            .write.mode("overwrite").options(**PARQUET_OPTIONS).parquet(staging + "/corrupt")
        corrupt = spark.read.parquet(staging + "/corrupt").count()
    return Converted(rows=count, corrupt_rows=corrupt, columns=names, output_files=output_files)
