"""Recovery after an outage, with the real jar, the shared local Spark and the real service:
`ingest run` retries failed manifests by itself, up to `max_attempts` (counted in the state),
leaves no staging behind when a job fails, and an operator re-queues a manifest that used up its
attempts."""

from __future__ import annotations

from ingest_helpers import count_rows, land, write_config
from tegridy_tokens.ingest.commands import Context, ingest, state_command
from tegridy_tokens.ingest.config import load_config
from tegridy_tokens.ingest.state import COMPLETED, FAILED

FUNCTION = "spark.tegridy.lambda.functionName"


def test_failed_manifests_are_retried_up_to_max_attempts(spark, service, tmp_path):
    for m in range(2):
        land(tmp_path, f"2026-10-0{1 + m}/f.ndjson", [{"id": i, "email": f"retry{m}.{i}@example.com"} for i in range(20)])
    config = load_config(write_config(tmp_path, expected_file_size_mb=0.01, size_tolerance_percent=99,
                                      max_files_per_manifest=1, max_attempts=2, pii_columns={"email": "default"},
                                      spark={FUNCTION: service.function_name,
                                             "spark.tegridy.lambda.endpoint": service.endpoint}))
    with Context(config, spark=spark) as context:
        ingest(context, "track")
        ingest(context, "manifest", flush=True)
        spark.conf.set(FUNCTION, "no-such-function")  # the service is out
        try:
            first, status = ingest(context, "run")
            assert status == 1 and first["failed"] == 2
            assert not list((tmp_path / "out" / "_staging").glob("*"))  # a failed job leaves no staging
            second, status = ingest(context, "run")  # still out: each manifest's second and last attempt
            assert status == 1 and second["failed"] == 2
        finally:
            spark.conf.set(FUNCTION, service.function_name)
        third, status = ingest(context, "run")  # back, but the attempts are used up
        assert status == 0 and third["manifests"] == []
        failed = sorted(m["key"] for m in context.state.scan("manifest", FAILED))
        assert sorted(third["failed_without_attempts_left"]) == failed and len(failed) == 2
        assert [context.state.get("manifest", key)["attempts"] for key in failed] == [2, 2]
        # The operator re-queues one; the other is retried when max_attempts is raised.
        state_command(context, "update", file=failed[0], status="manifested", reason=None)
        fourth, status = ingest(context, "run")
        assert status == 0 and [(r["manifest"], r["status"]) for r in fourth["manifests"]] == [(failed[0], COMPLETED)]
    raised = load_config(write_config(tmp_path, expected_file_size_mb=0.01, size_tolerance_percent=99,
                                      max_files_per_manifest=1, max_attempts=3, pii_columns={"email": "default"}))
    with Context(raised, spark=spark) as context:
        fifth, status = ingest(context, "run")
        assert status == 0 and [(r["manifest"], r["status"]) for r in fifth["manifests"]] == [(failed[1], COMPLETED)]
        assert [context.state.get("manifest", key)["attempts"] for key in failed] == [3, 3]
        checked, status = state_command(context, "validate")
        assert status == 0, checked["problems"]
    assert count_rows(tmp_path / "out") == 40
