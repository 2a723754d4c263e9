"""Corrupt lines kept byte for byte, with the real jar, the shared local Spark and the real
service: a line that is not a JSON object, or is JSON with invalid UTF-8 in it, is counted as
corrupt and kept as a token of a lossless text of its bytes (never altered with U+FFFD), and one
such line never fails its manifest. The property test: random byte strings (invalid UTF-8, NUL,
CR...) come back exactly after detokenize and `decode_line`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ingest_helpers import write_config
from tegridy_tokens.functions import detokenize
from tegridy_tokens.ingest.commands import Context, ingest
from tegridy_tokens.ingest.config import load_config
from tegridy_tokens.ingest.convert import CORRUPT_COLUMN, REASON_COLUMN, convert
from tegridy_tokens.ingest.corrupt import decode_line

PII = {"email": "default"}


def service_settings(service) -> dict:
    return {"spark.tegridy.lambda.functionName": service.function_name,
            "spark.tegridy.lambda.endpoint": service.endpoint, "spark.master": "local[1]", "spark.ui.enabled": False}


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def kept_lines(spark, folder: str) -> list[bytes]:
    rows = spark.read.parquet(folder).select(detokenize(CORRUPT_COLUMN).alias("kept")).collect()
    return [decode_line(r["kept"]) for r in rows]


def test_invalid_utf8_is_corrupt_kept_exactly_and_fails_nothing(spark, service, tmp_path):
    good = [json.dumps({"id": i, "email": f"corrupt.ok{i}@example.com"}).encode() for i in range(30)]
    bad_json = b'{"id": 100, "email": "bad\xff\xfeutf@example.com"}'  # JSON, but not UTF-8
    bad_bytes = b"\x00garbage\rwith CR\xc3 and NUL\x00"              # neither
    write_lines(tmp_path / "landing" / "2026-07-01" / "source-a.ndjson", good[:15] + [bad_json, bad_bytes])
    write_lines(tmp_path / "landing" / "2026-07-01" / "source-b.ndjson", good[15:])  # another source, same date
    config = load_config(write_config(tmp_path, expected_file_size_mb=0.01, size_tolerance_percent=99,
                                      pii_columns=PII, spark=service_settings(service)))
    with Context(config, spark=spark) as context:
        result, status = ingest(context, "all")
    assert status == 0, result
    assert [m["status"] for m in result["run"]["manifests"]] == ["completed"]
    assert result["run"]["rows"] == 30 and result["run"]["corrupt_rows"] == 2
    out = spark.read.parquet(str(tmp_path / "out"))
    emails = {r["email"] for r in out.select(detokenize("email").alias("email")).collect()}
    assert emails == {f"corrupt.ok{i}@example.com" for i in range(30)}  # no U+FFFD-altered row
    assert sorted(kept_lines(spark, str(tmp_path / "out" / "_corrupt"))) == sorted([bad_json, bad_bytes])
    reasons = {r[REASON_COLUMN] for r in spark.read.parquet(str(tmp_path / "out" / "_corrupt")).collect()}
    assert reasons == {"not valid UTF-8"}


def test_a_malformed_utf8_line_is_kept_readable(spark, service, tmp_path):
    line = '{"email": "broken@example.com", "name": "Zoë'.encode()
    inputs = tmp_path / "in.ndjson"
    write_lines(inputs, [b'{"id": 1}', line, b"", b" \t\r"])  # blank lines (spaces, tab, CR) are not records
    result = convert(spark, [inputs.as_uri()], (tmp_path / "staged").as_uri(), "2026-07-02T00:00:00+00:00", PII,
                     inputs.stat().st_size, 128 * 2**20)
    assert (result.rows, result.corrupt_rows) == (1, 1)
    kept = spark.read.parquet(str(tmp_path / "staged" / "corrupt")).select(
        detokenize(CORRUPT_COLUMN).alias("kept"), REASON_COLUMN).collect()
    assert [(r["kept"], r[REASON_COLUMN]) for r in kept] == [("text:" + line.decode(), "not a JSON object")]


# A line is any bytes but the \n that ends it; JSON objects with arbitrary bytes inside a string are
# drawn too (without quotes and backslashes, so that the string stays one string).
LINE = st.one_of(
    st.binary(min_size=1, max_size=40),
    st.binary(max_size=20).map(lambda b: b'{"email": "' + b.replace(b'"', b"'").replace(b"\\", b"/") + b'"}'),
    st.lists(st.sampled_from([b"\x00", b"\r", b"\xff", b"\xc3", b"\xe2\x82", b"a", b"{", b" "]), min_size=1,
             max_size=12).map(b"".join),
).map(lambda b: b.replace(b"\n", b"\\n"))


def is_row(line: bytes) -> bool:
    """A JSON object in valid UTF-8; raw control characters inside strings are accepted, as Spark's
    JSON functions accept them."""
    try:
        return isinstance(json.loads(line.decode("utf-8"), strict=False), dict)
    except ValueError:
        return False


def is_blank(line: bytes) -> bool:
    return not line.strip(b" \t\r")


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.too_slow])
@given(lines=st.lists(LINE, min_size=1, max_size=40))
def test_random_bytes_come_back_exactly(lines, spark, service, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bytes")
    inputs = folder / "in.ndjson"
    write_lines(inputs, lines)
    result = convert(spark, [inputs.as_uri()], (folder / "staged").as_uri(), "2026-07-03T00:00:00+00:00", PII,
                     inputs.stat().st_size, 128 * 2**20)
    corrupt = [line for line in lines if not is_row(line) and not is_blank(line)]
    assert result.rows == sum(map(is_row, lines)) and result.corrupt_rows == len(corrupt)
    if corrupt:
        assert Counter(kept_lines(spark, str(folder / "staged" / "corrupt"))) == Counter(corrupt)
