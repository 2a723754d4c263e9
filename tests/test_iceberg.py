"""Apache Iceberg's DML with the functions in every clause, on each Spark line with an Iceberg
Spark runtime on Maven Central: a call in a DELETE's WHERE, an UPDATE's WHERE or SET, a MERGE's ON
and WHEN MATCHED AND, INSERT's VALUES and CTAS, over copy-on-write and merge-on-read tables. Runs
in its own JVM (tests/iceberg_job.py) with the real jar, the runtime fetched by Spark from Maven
Central, a local Hadoop catalog and the real reference service."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyspark
import pytest

from conftest import REPO

# The Iceberg Spark runtime for each line, as published on Maven Central (none is built for 4.2 yet).
RUNTIMES = {
    "3.5": "org.apache.iceberg:iceberg-spark-runtime-3.5_2.12:1.10.0",
    "4.0": "org.apache.iceberg:iceberg-spark-runtime-4.0_2.13:1.10.0",
    "4.1": "org.apache.iceberg:iceberg-spark-runtime-4.1_2.13:1.12.0",
}
LINE = ".".join(pyspark.__version__.split(".")[:2])

ROWS = 200


def expected() -> dict:
    """What the job's statements leave, worked out here from the same rules."""
    notes = {i: "" for i in range(ROWS)}
    notes[-1] = "values"
    for i in [i for i in notes if str(i).startswith("1") and i % 2 == 0]:
        del notes[i]                                    # DELETE … WHERE detokenize(email) LIKE 'ice1%' AND id % 2 = 0
    for i in notes:
        if str(i).startswith("19"):
            notes[i] = "vip"                            # UPDATE … WHERE detokenize(email) LIKE 'ice19%'
    for i in [i * 30 for i in range(10)] + [1000, 1001, 1002]:
        if i not in notes:
            notes[i] = "new"                            # WHEN NOT MATCHED THEN INSERT
        elif str(i).endswith("60"):
            del notes[i]                                # WHEN MATCHED AND … LIKE '%60@%' THEN DELETE
        else:
            notes[i] = "merged"                         # WHEN MATCHED THEN UPDATE
    return {"ids": sorted(notes), "vip": sorted(i for i, n in notes.items() if n == "vip"),
            "merged": sorted(i for i, n in notes.items() if n == "merged"),
            "new": sorted(i for i, n in notes.items() if n == "new"), "set_exact": True, "emails_exact": True}


@pytest.mark.skipif(LINE not in RUNTIMES, reason=f"no Iceberg Spark runtime for Spark {LINE} on Maven Central")
def test_iceberg_dml_matrix(tmp_path, service):
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "iceberg_job.py"), RUNTIMES[LINE], service.function_name,
         service.endpoint, (tmp_path / "warehouse").as_uri()],
        capture_output=True, text=True, timeout=1200, env=env)
    assert done.returncode == 0, done.stderr[-6000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found.pop("ctas_exact")
    want = expected()
    for mode, result in found.items():
        assert result == want, mode
