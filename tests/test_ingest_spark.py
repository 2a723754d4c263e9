"""The ingestion pipeline end to end, with the real jar in the shared local Spark and the real
reference service: `ingest all` over a landing folder with nested objects, unicode, nulls,
missing keys, a malformed line, an empty file and an oversized file; the Parquet's rows, columns
and tokens (exactly the service's, detokenizing to the originals); no plaintext PII anywhere
in the output; a re-run adds nothing; a killed run is reset and re-run to exact rows; Hadoop
URIs (file://) through the Hadoop FileSystem API; the CLI on the embedded default."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from conftest import service_tokens
from ingest_helpers import cli, cli_json, land, write_config
from tegridy_tokens.functions import detokenize
from tegridy_tokens.ingest.commands import Context, ingest, state_command
from tegridy_tokens.ingest.config import load_config
from tegridy_tokens.ingest.convert import CORRUPT_COLUMN
from tegridy_tokens.ingest.corrupt import decode_line
from tegridy_tokens.ingest.state import COMPLETED, MANIFESTED, PROCESSING, QUARANTINED, open_state

BROKEN = '{"email": "canary.broken.q7@example.com", "ssn": "999-00-1234", "name": '
PII = {"email": "default", "ssn": "default"}


def record(i: int) -> dict:
    row = {"id": i, "email": f"canary.{i}.q7@example.com", "ssn": f"9{i % 100:02d}-55-{i:04d}",
           "name": "Zoë Ünïcødé 名前 🙂", "address": {"city": "Paris", "zip": i, "geo": [1.5, None]},
           "tags": ["a", i], "note": None}
    if i % 7 == 0:
        del row["ssn"]  # a missing key
    if i % 11 == 0:
        row["email"] = None  # a null
    return row


def landing(folder: Path) -> list[dict]:
    """Three good files (one gzip, one with a malformed line), an empty one and an oversized one;
    returns the valid records."""
    first = [record(i) for i in range(0, 40)]
    second = [record(i) for i in range(40, 80)]
    third = [record(i) for i in range(80, 120)]
    land(folder, "2026-03-01/a.ndjson", first[:20] + [BROKEN] + first[20:] + [""])
    land(folder, "2026-03-01/b.json", second)
    packed = folder / "landing" / "2026-03-02" / "c.ndjson.gz"
    packed.parent.mkdir(parents=True, exist_ok=True)
    packed.write_bytes(gzip.compress("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in third).encode()))
    land(folder, "2026-03-02/empty.ndjson", [])
    land(folder, "2026-03-02/huge.ndjson", [record(i) for i in range(2000)])
    return first + second + third


def settings(service) -> dict:
    return {"spark.tegridy.lambda.functionName": service.function_name,
            "spark.tegridy.lambda.endpoint": service.endpoint, "spark.master": "local[1]", "spark.ui.enabled": False,
            "spark.driver.memory": "512m"}


def config_for(folder: Path, service, **extra):
    # The band 0.5 KB to 104 KB: the good files are a few KB, huge.ndjson is about 400 KB.
    return write_config(folder, expected_file_size_mb=0.05, size_tolerance_percent=99, pii_columns=PII,
                        spark=settings(service), **extra)


def canaries(records: list[dict]) -> list[str]:
    values = [r[c] for r in records for c in PII if r.get(c)]
    return values + ["canary.broken.q7@example.com", "999-00-1234"]


def assert_no_plaintext(root: Path, secrets: list[str]) -> int:
    """Every byte of every file under root, and every decoded Parquet value, is free of `secrets`."""
    import pyarrow.parquet as pq

    scanned = 0
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        found = [s for s in secrets if s.encode() in data]
        assert not found, f"{len(found)} plaintext value(s) in {path}"
        if path.suffix == ".parquet":
            # Snappy pages may split a string; search the decoded values too.
            text = json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False)
            assert not [s for s in secrets if s in text], f"plaintext value(s) decoded from {path}"
        scanned += 1
    return scanned


@pytest.fixture(scope="module")
def pipeline(spark, service, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ingest")
    valid = landing(folder)
    config = load_config(config_for(folder, service))
    with Context(config, spark=spark) as context:
        result, status = ingest(context, "all")
    return folder, config, valid, result, status


def test_ingest_all_converts_the_valid_lines(pipeline, spark):
    folder, config, valid, result, status = pipeline
    assert status == 0, result
    assert result["track"]["tracked"] == 3
    quarantined = {q["file"].rsplit("/", 1)[-1]: q["reason"] for q in result["track"]["quarantined"]}
    assert set(quarantined) == {"empty.ndjson", "huge.ndjson"}
    assert all("outside the accepted band" in reason for reason in quarantined.values())
    assert (folder / "landing" / "_quarantine" / "2026-03-02" / "huge.ndjson").exists()
    assert [m["files"] for m in result["manifest"]["manifests"]] == [2, 1]  # one manifest per date
    assert result["run"]["rows"] == len(valid) == 120 and result["run"]["corrupt_rows"] == 1

    out = spark.read.parquet(str(folder / "out"))
    assert out.count() == len(valid)
    assert {f.name: f.dataType.simpleString() for f in out.schema.fields} == {
        **{c: "string" for c in ("address", "email", "id", "name", "note", "ssn", "tags")},
        "_source_file": "string", "_ingested_at": "string", "_manifest_id": "string",
        # A partition folder's value: Spark's partition discovery reads yyyy-MM-dd as a date.
        "_ingest_date": "date"}
    rows = {int(r["id"]): r for r in out.collect()}
    assert rows[3]["address"] == '{"city":"Paris","zip":3,"geo":[1.5,null]}' and rows[3]["tags"] == '["a",3]'
    assert rows[3]["name"] == "Zoë Ünïcødé 名前 🙂" and rows[3]["note"] is None
    assert rows[7]["ssn"] is None and rows[11]["email"] is None  # a missing key and a null stay NULL
    assert str(rows[90]["_ingest_date"]) == "2026-03-02" and rows[90]["_source_file"].endswith("c.ndjson.gz")
    assert str(rows[1]["_ingest_date"]) == "2026-03-01" and rows[1]["_manifest_id"].startswith("m-")
    assert rows[1]["_ingested_at"].endswith("+00:00")


def test_pii_columns_are_exactly_the_services_tokens(pipeline, spark, service):
    folder, _, valid, _, _ = pipeline
    out = {int(r["id"]): r for r in spark.read.parquet(str(folder / "out")).collect()}
    for column in PII:
        present = [r for r in valid if r.get(column)]
        expected = service_tokens(service, [r[column] for r in present])
        assert [out[r["id"]][column] for r in present] == expected
    back = spark.read.parquet(str(folder / "out")).select("id", detokenize("email").alias("email"),
                                                          detokenize("ssn").alias("ssn")).collect()
    assert {(int(r["id"]), r["email"], r["ssn"]) for r in back} == {(r["id"], r.get("email"), r.get("ssn")) for r in valid}


def test_the_malformed_line_is_kept_as_a_token(pipeline, spark):
    folder, *_ = pipeline
    corrupt = spark.read.parquet(str(folder / "out" / "_corrupt"))
    lines = corrupt.select(detokenize(CORRUPT_COLUMN).alias("line"), "_source_file", "_ingest_date").collect()
    assert [(decode_line(r["line"]), str(r["_ingest_date"])) for r in lines] == [(BROKEN.encode(), "2026-03-01")]
    assert lines[0]["_source_file"].endswith("a.ndjson")


def test_no_plaintext_pii_in_the_output_or_the_state(pipeline):
    folder, _, valid, _, _ = pipeline
    assert assert_no_plaintext(folder / "out", canaries(valid)) > 10
    # ...while the search does find them where they are: the landed files.
    assert "canary.broken.q7@example.com".encode() in (folder / "landing" / "2026-03-01" / "a.ndjson").read_bytes()


def test_state_stats_agree(pipeline):
    folder, config, valid, _, _ = pipeline
    with Context(config) as context:
        stats, _ = state_command(context, "stats")
        checked, status = state_command(context, "validate")
    assert stats["files"][COMPLETED]["count"] == 3 and stats["files"][QUARANTINED]["count"] == 2
    sizes = {p.name: p.stat().st_size for p in (folder / "landing").rglob("*.*")}
    assert stats["files"][COMPLETED]["bytes"] == sizes["a.ndjson"] + sizes["b.json"] + sizes["c.ndjson.gz"]
    assert stats["files"][QUARANTINED]["bytes"] == sizes["huge.ndjson"] + sizes["empty.ndjson"]
    assert stats["manifests"][COMPLETED]["count"] == 2 and stats["rows_written"] == len(valid)
    assert stats["corrupt_rows"] == 1
    assert status == 0 and checked["ok"], checked["problems"]


def test_a_rerun_adds_no_rows(pipeline, spark):
    folder, config, valid, _, _ = pipeline
    with Context(config, spark=spark) as context:
        again, status = ingest(context, "all")
        assert status == 0 and again["run"]["manifests"] == [] and again["track"]["tracked"] == 0
        # An explicit re-run of a completed manifest replaces its own output.
        manifest = context.state.scan("manifest")[0]["key"]
        rerun, status = ingest(context, "run", manifest=manifest)
    assert status == 0 and rerun["manifests"][0]["status"] == COMPLETED
    assert spark.read.parquet(str(folder / "out")).count() == len(valid)
    assert spark.read.parquet(str(folder / "out" / "_corrupt")).count() == 1


@pytest.mark.parametrize("point", ["after-write", "after-commit"])
def test_a_killed_run_is_reset_and_rerun_exactly(point, spark, service, tmp_path):
    valid = landing(tmp_path)
    config_path = config_for(tmp_path, service)
    config = load_config(config_path)
    cfg = ("--config", str(config_path))
    assert cli("ingest", "track", *cfg).returncode == 0
    assert cli("ingest", "manifest", "--flush", *cfg).returncode == 0
    killed = cli("ingest", "run", *cfg, env={"TEGRIDY_INGEST_CRASH_AT": point})
    assert killed.returncode == -9, killed.stderr[-2000:]
    store = open_state(config.state)
    dead = store.scan("manifest", PROCESSING)
    assert len(dead) == 1  # killed in the first manifest; the other was never started
    out = tmp_path / "out" / f"_ingest_date={dead[0]['date']}" / f"_manifest_id={dead[0]['key']}"
    assert out.exists() == (point == "after-commit")  # whole or not at all
    code, reset = cli_json("state", "reset-stuck", "--older-than", "0s", *cfg)
    assert code == 0 and reset["manifests"] == [dead[0]["key"]]
    assert store.get("manifest", dead[0]["key"])["status"] == MANIFESTED
    with Context(config, spark=spark) as context:
        result, status = ingest(context, "run")
    assert status == 0 and result["completed"] == 2
    ids = [int(r["id"]) for r in spark.read.parquet(str(tmp_path / "out")).select("id").collect()]
    assert sorted(ids) == sorted(r["id"] for r in valid)  # no duplicates, none lost
    assert spark.read.parquet(str(tmp_path / "out" / "_corrupt")).count() == 1
    assert not list((tmp_path / "out" / "_staging").glob("*/data"))


def test_hadoop_uris_go_through_the_hadoop_filesystem(spark, service, tmp_path):
    valid = landing(tmp_path)
    path = config_for(tmp_path, service, state=f"sqlite://{tmp_path / 'state.db'}")
    text = path.read_text().replace(f'"{tmp_path}/landing"', f'"{(tmp_path / "landing").as_uri()}"') \
        .replace(f'"{tmp_path}/out"', f'"{(tmp_path / "out").as_uri()}"')
    path.write_text(text)
    config = load_config(path)
    assert config.landing.startswith("file:///")
    with Context(config, spark=spark) as context:
        result, status = ingest(context, "all")
        assert type(context.fs.of(config.landing)).__name__ == "HadoopFileSystem"
    assert status == 0 and result["run"]["rows"] == len(valid)
    assert result["track"]["tracked"] == 3 and len(result["track"]["quarantined"]) == 2
    assert (tmp_path / "landing" / "_quarantine" / "2026-03-02" / "empty.ndjson").exists()
    assert len(list((tmp_path / "out" / "_manifests").glob("m-*.json"))) == 2
    assert spark.read.parquet(str(tmp_path / "out")).count() == len(valid)


def test_cli_ingest_all_on_the_embedded_default(tmp_path):
    valid = landing(tmp_path)
    config = write_config(tmp_path, expected_file_size_mb=0.05, size_tolerance_percent=99, pii_columns=PII,
                          spark={"spark.master": "local[1]", "spark.ui.enabled": False})
    done = cli("ingest", "all", "--config", str(config), "--json", env={"TEGRIDY_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["run"]["rows"] == len(valid) and result["run"]["completed"] == 2
    assert (tmp_path / "home" / "vault.db").exists()  # the embedded reference service kept the tokens
    assert not [c for c in canaries(valid) if c in done.stdout + done.stderr]  # nor in the job's log
    assert assert_no_plaintext(tmp_path / "out", canaries(valid)) > 10
    human = cli("state", "stats", "--config", str(config))
    assert human.returncode == 0 and "completed:" in human.stdout and "rows_written: 120" in human.stdout


def test_a_failed_run_records_a_reason_without_values(spark, service, tmp_path):
    valid = landing(tmp_path)
    config = load_config(config_for(tmp_path, service))
    key = "spark.tegridy.lambda.functionName"
    with Context(config, spark=spark) as context:
        ingest(context, "track")
        ingest(context, "manifest", flush=True)
        spark.conf.set(key, "no-such-function")
        try:
            result, status = ingest(context, "run")
        finally:
            spark.conf.set(key, service.function_name)
        assert status == 1 and result["failed"] == 2
        failed = context.state.scan("manifest", "failed")
        reasons = [m["reason"] for m in failed] + [f["reason"] for f in context.state.scan("file", "failed")]
        assert len(reasons) == 5 and all("com.tegridy" in r and "no-such-function" in r for r in reasons), reasons
        assert not [c for c in canaries(valid) if any(c in r for r in reasons)]
        # Retried once the cause is fixed: failed -> processing -> completed, replacing nothing twice.
        retried = [ingest(context, "run", manifest=m["key"])[0]["manifests"][0]["status"] for m in failed]
    assert retried == [COMPLETED, COMPLETED]
    assert spark.read.parquet(str(tmp_path / "out")).count() == len(valid)


def test_pii_names_match_keys_in_any_case_and_nested_names_are_refused(spark, service, tmp_path):
    land(tmp_path, "2026-04-01/a.ndjson", [{"id": i, "Email": f"canary.case{i}.q7@example.com"} for i in range(30)])
    config = load_config(write_config(tmp_path, expected_file_size_mb=0.05, size_tolerance_percent=99,
                                      pii_columns={"email": "default"}))
    with Context(config, spark=spark) as context:
        result, status = ingest(context, "all")
    assert status == 0 and result["run"]["rows"] == 30
    out = sorted(spark.read.parquet(str(tmp_path / "out")).collect(), key=lambda r: int(r["id"]))
    assert [r["Email"] for r in out] == service_tokens(service, [f"canary.case{i}.q7@example.com"
                                                                         for i in range(30)])

    nested = tmp_path / "nested"
    land(nested, "2026-04-01/b.ndjson", [{"id": i, "user": {"email": f"u{i}@example.com"}} for i in range(30)])
    config = load_config(write_config(nested, expected_file_size_mb=0.05, size_tolerance_percent=99,
                                      pii_columns={"user.email": "default"}))
    with Context(config, spark=spark) as context:
        result, status = ingest(context, "all")
    assert status == 1
    assert "pii_columns user.email name nested fields" in result["run"]["manifests"][0]["reason"]
    assert not (nested / "out" / "_ingest_date=2026-04-01").exists()


def test_pii_columns_with_formats_get_format_preserving_tokens(spark, service, tmp_path):
    rows = [{"id": i, "ssn": f"9{i:02d}-55-{1000 + i:04d}", "email": f"canary.fmt{i}.q7@example.com"} for i in range(20)]
    land(tmp_path, "2026-05-01/a.ndjson", rows)
    config = load_config(write_config(tmp_path, expected_file_size_mb=0.05, size_tolerance_percent=99,
                                      pii_columns={"ssn": "ssn", "email": "email"}))
    with Context(config, spark=spark) as context:
        result, status = ingest(context, "all")
    assert status == 0 and result["run"]["rows"] == 20
    out = spark.read.parquet(str(tmp_path / "out"))
    got = {int(r["id"]): r for r in out.collect()}
    assert all(re.fullmatch(r"\d{3}-\d{2}-\d{4}", got[r["id"]]["ssn"]) and got[r["id"]]["ssn"] != r["ssn"] for r in rows)
    assert all(got[r["id"]]["email"].endswith("@example.com") and got[r["id"]]["email"] != r["email"] for r in rows)
    back = out.select("id", detokenize("ssn", "ssn").alias("ssn"), detokenize("email", "email").alias("email")).collect()
    assert {(int(r["id"]), r["ssn"], r["email"]) for r in back} == {(r["id"], r["ssn"], r["email"]) for r in rows}
    assert assert_no_plaintext(tmp_path / "out", [r["email"] for r in rows]) > 0


def test_ingest_all_with_the_state_in_dynamodb(spark, service, aws_env, tmp_path):
    valid = landing(tmp_path)
    table = f"ingest-e2e-{tmp_path.name[-20:]}".replace("_", "-")
    config = load_config(config_for(tmp_path, service, state=f"dynamodb://{table}"))
    with Context(config, spark=spark) as context:
        result, status = ingest(context, "all")
        stats, _ = state_command(context, "stats")
        checked, valid_status = state_command(context, "validate")
    assert status == 0 and result["run"]["rows"] == len(valid) and result["run"]["corrupt_rows"] == 1
    assert stats["files"][COMPLETED]["count"] == 3 and stats["files"][QUARANTINED]["count"] == 2
    assert stats["manifests"][COMPLETED]["count"] == 2 and stats["rows_written"] == len(valid)
    assert valid_status == 0 and checked["ok"], checked["problems"]
    assert spark.read.parquet(str(tmp_path / "out")).count() == len(valid)
    assert not (tmp_path / "out" / "_state.db").exists()
