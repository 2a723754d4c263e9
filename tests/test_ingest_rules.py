"""The ingestion pipeline's rules without Spark: ingest.toml parsing and its errors, validation
and quarantine by size band, name and content, the ingest date, and the manifest grouping rules
(at most max files and max bytes, a partial manifest only when more than half full or flushed)."""

from __future__ import annotations

import gzip
import json

import pytest

from ingest_helpers import land, write_config
from tegridy_tokens.ingest.config import ConfigError, load_config, parse_config, parse_duration
from tegridy_tokens.ingest.manifests import plan
from tegridy_tokens.ingest.paths import LocalFileSystem
from tegridy_tokens.ingest.state import PENDING, QUARANTINED, open_state
from tegridy_tokens.ingest.track import track
from tegridy_tokens.ingest.validate import check, ingest_date

MB = 1024 * 1024


def test_defaults_are_the_seeds(tmp_path):
    config = load_config(write_config(tmp_path))
    assert (config.max_files_per_manifest, config.max_batch_size_gb, config.expected_file_size_mb,
            config.size_tolerance_percent, config.target_file_size_mb) == (200, 0.7, 10.0, 99.0, 128.0)
    assert config.state == f"sqlite://{tmp_path / 'out' / '_state.db'}"
    assert config.quarantine == str(tmp_path / "landing" / "_quarantine")
    # The seed's band: 0.1 MB to 19.9 MB.
    assert config.size_band == (int(0.1 * MB), int(19.9 * MB))
    assert config.max_batch_bytes == int(0.7 * 1024 * MB)


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    (tmp_path / "ingest.toml").write_text('[ingest]\nlanding = "in"\noutput = "out"\nstate = "sqlite://st/state.db"\n')
    config = load_config(tmp_path / "ingest.toml")
    assert config.landing == str(tmp_path / "in")
    assert config.state == f"sqlite://{tmp_path / 'st' / 'state.db'}"


@pytest.mark.parametrize("section, message", [
    ({"output": "o"}, "needs `landing`"),
    ({"landing": "l", "output": "o", "max_files": 3}, "unknown key(s) in [ingest]: max_files"),
    ({"landing": "l", "output": "o", "max_files_per_manifest": 0}, "must be at least 1"),
    ({"landing": "l", "output": "o", "max_files_per_manifest": "200"}, "must be an integer"),
    ({"landing": "l", "output": "o", "date_pattern": r"\d+"}, "exactly one group"),
    ({"landing": "l", "output": "o", "state": "postgres://x"}, "sqlite:///path/to/state.db or dynamodb://TABLE"),
    ({"landing": "l", "output": "s3a://bucket/out"}, "set state"),
    ({"landing": "l", "output": "o", "pii_columns": {"email": "emial"}}, "must be one of"),
])
def test_config_errors_name_the_key_and_the_fix(section, message):
    with pytest.raises(ConfigError) as error:
        parse_config({"ingest": section})
    assert message in str(error.value)


def test_formats_are_accepted_and_an_unknown_one_is_refused():
    config = parse_config({"ingest": {"landing": "l", "output": "o", "pii_columns": {"ssn": "ssn", "email": "default"}}})
    assert config.pii_columns == {"ssn": "ssn", "email": "default"}
    with pytest.raises(ConfigError) as error:
        parse_config({"ingest": {"landing": "l", "output": "o", "pii_columns": {"iban": "bank"}}})
    assert "pii_columns.iban = 'bank'" in str(error.value) and "credit_card" in str(error.value)


def test_spark_section_flat_or_nested():
    config = parse_config({"ingest": {"landing": "l", "output": "o"},
                           "spark": {"spark.tegridy.maxInFlight": 8, "spark": {"ui": {"enabled": False}}}})
    assert config.spark == {"spark.tegridy.maxInFlight": "8", "spark.ui.enabled": "false"}


def test_durations():
    assert [parse_duration(x) for x in ("90s", "15m", "2h", "1d", "0", 5)] == [90, 900, 7200, 86400, 0, 5]
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration("soon")


def _info(path, size):
    from tegridy_tokens.ingest.paths import FileInfo

    return FileInfo(str(path), size, 0.0)


def test_validation_by_size_band_name_and_content(tmp_path):
    fs, band = LocalFileSystem(), (100, 10_000)
    good = land(tmp_path, "2026-01-02/a.ndjson", [{"a": 1}] * 20)
    assert check(fs, _info(good, good.stat().st_size), band) is None
    assert "outside the accepted band" in check(fs, _info(good, 50), band)
    assert "outside the accepted band" in check(fs, _info(good, 10_001), band)
    assert check(fs, _info(tmp_path / "a.csv", 500), band) == "name does not end in .json, .ndjson, .json.gz, .ndjson.gz"
    text = land(tmp_path, "t.json", ["name,email"] * 50)
    assert check(fs, _info(text, text.stat().st_size), band) == "none of the first 5 line(s) is a JSON object"
    # One malformed first line does not condemn the file: the Spark job keeps it in _corrupt/.
    mixed = land(tmp_path, "m.json", ['{"broken":'] + [{"a": 1}] * 20)
    assert check(fs, _info(mixed, mixed.stat().st_size), band) is None
    packed = tmp_path / "landing" / "z.ndjson.gz"
    packed.write_bytes(gzip.compress(b'{"a": 1}\n' * 100))
    assert check(fs, _info(packed, 200), band) is None
    fake = tmp_path / "landing" / "f.json.gz"
    fake.write_bytes(b'{"a": 1}\n' * 100)
    assert check(fs, _info(fake, 200), band) == "name ends in .gz but the file is not gzip"


def test_ingest_date_from_the_path_else_the_tracking_day():
    assert ingest_date("folder1/2025-12-23-file001.ndjson", r"(\d{4}-\d{2}-\d{2})", 0) == ("2025-12-23", "path")
    assert ingest_date("dt=20251223/x.json", r"dt=(\d{8})", 0) == ("20251223", "path")
    assert ingest_date("x.json", r"(\d{4}-\d{2}-\d{2})", 86400 * 365) == ("1971-01-01", "tracked")


def test_track_quarantines_by_size_and_is_idempotent(tmp_path):
    config = load_config(write_config(tmp_path, expected_file_size_mb=0.01, size_tolerance_percent=50))
    ok = land(tmp_path, "2026-01-05/ok.ndjson", [{"id": i, "pad": "x" * 50} for i in range(150)])
    land(tmp_path, "2026-01-05/empty.json", [])
    land(tmp_path, "2026-01-05/big.json", [{"id": i, "pad": "x" * 100} for i in range(200)])
    land(tmp_path, "_SUCCESS", [])
    state = open_state(config.state)
    result = track(config, state, LocalFileSystem())
    assert result["tracked"] == 1 and result["scanned"] == 3
    reasons = {item["file"].rsplit("/", 1)[-1]: item["reason"] for item in result["quarantined"]}
    assert set(reasons) == {"empty.json", "big.json"} and all("outside the accepted band" in r for r in reasons.values())
    assert (tmp_path / "landing" / "_quarantine" / "2026-01-05" / "big.json").exists()
    assert not (tmp_path / "landing" / "2026-01-05" / "big.json").exists()
    record = state.get("file", str(ok))
    assert (record["status"], record["date"], record["size"]) == (PENDING, "2026-01-05", ok.stat().st_size)
    assert state.get("file", str(tmp_path / "landing" / "2026-01-05" / "big.json"))["status"] == QUARANTINED
    again = track(config, state, LocalFileSystem())
    assert (again["tracked"], again["quarantined"], again["already_tracked"]) == (0, [], 1)
    assert len(state.scan("file")) == 3


def _files(sizes, date="2026-01-01", start=0):
    return [{"key": f"f{start + i:04d}", "size": size, "date": date, "created_at": float(start + i)}
            for i, size in enumerate(sizes)]


def test_manifests_respect_max_files_and_max_bytes_oldest_first():
    groups = plan(_files([10] * 450), max_files=200, max_bytes=10_000, flush=False)
    assert [len(g) for g in groups] == [200, 200]  # the last 50 are 25% full: they wait
    assert groups[0][0]["key"] == "f0000" and groups[1][-1]["key"] == "f0399"
    by_bytes = plan(_files([300] * 10), max_files=200, max_bytes=1000, flush=True)
    assert [len(g) for g in by_bytes] == [3, 3, 3, 1]
    assert all(sum(f["size"] for f in g) <= 1000 for g in by_bytes)


def test_partial_manifest_kept_only_when_more_than_half_full_or_flushed():
    assert plan(_files([1] * 101), max_files=200, max_bytes=10**9, flush=False)[0].__len__() == 101
    assert plan(_files([1] * 100), max_files=200, max_bytes=10**9, flush=False) == []  # exactly half: not more
    assert len(plan(_files([600]), max_files=200, max_bytes=1000, flush=False)) == 1  # over half by bytes
    assert len(plan(_files([1] * 3), max_files=200, max_bytes=10**9, flush=True)[0]) == 3


def test_a_manifest_holds_one_date():
    files = _files([1] * 150, "2026-01-01") + _files([1] * 150, "2026-01-02", start=150)
    groups = plan(files, max_files=200, max_bytes=10**9, flush=False)
    assert [(len(g), g[0]["date"]) for g in groups] == [(150, "2026-01-01"), (150, "2026-01-02")]
    assert all(len({f["date"] for f in g}) == 1 for g in groups)


def test_no_file_in_two_manifests_and_none_lost():
    files = _files([7, 300, 12, 999, 1] * 40)
    groups = plan(files, max_files=17, max_bytes=1000, flush=True)
    keys = [f["key"] for g in groups for f in g]
    assert sorted(keys) == sorted(f["key"] for f in files) and len(keys) == len(set(keys))
    assert all(len(g) <= 17 and (sum(f["size"] for f in g) <= 1000 or len(g) == 1) for g in groups)


def test_cli_help_lists_the_contract_commands():
    from ingest_helpers import cli

    done = cli("state", "--help")
    assert done.returncode == 0
    for name in ("get", "list", "stats", "timeline", "orphans", "reset-stuck", "validate", "update", "batch-update"):
        assert name in done.stdout
    done = cli("ingest", "--help")
    assert all(name in done.stdout for name in ("track", "manifest", "run", "all"))


def test_cli_reports_a_bad_config_in_json(tmp_path):
    from ingest_helpers import cli

    (tmp_path / "ingest.toml").write_text("[ingest]\nlanding = 'l'\n")
    done = cli("state", "stats", "--config", str(tmp_path / "ingest.toml"), "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout)["type"] == "ConfigError" and "needs `output`" in done.stderr
