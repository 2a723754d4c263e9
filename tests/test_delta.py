"""Delta Lake DELETE and UPDATE with a call in the WHERE clause. Delta finds the files to rewrite
with input_file_name(), which the operator's read-ahead used to leave pointing at the wrong file
(DELTA_FILE_TO_OVERWRITE_NOT_FOUND). Runs in its own JVM with the real jar, Delta and the real
reference service."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO


def test_delete_and_update_with_detokenize_in_where(tmp_path, service):
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "delta_job.py"), service.function_name, service.endpoint,
         str(tmp_path / "customers")],
        capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["files_before"] == 4
    assert found["rows"] == 1999 and 7 not in found["ids"]
    assert found["vip"] == sorted([19] + list(range(190, 200)) + list(range(1900, 2000)))
    assert found["emails_exact"]
