"""The ingestion benchmark in its tiny mode, so it never rots: `ingest run` and the plain
conversion run on the same files, the ingest run calls the service (each distinct value once)
and the plain one does not, and the figures and the table are written."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO


def test_ingest_benchmark_smoke(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "ingest.py"), "--smoke", "--latency-ms", "2",
                           "--out", str(tmp_path), "--work", str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "benchmarks_ingest.json").read_text())["summary"]
    assert summary["rows"] == 2000 and summary["plain"]["rows_per_s"] > 0 and summary["ratio"] > 0
    # 3 PII columns, each 5% distinct over 2,000 rows: 300 distinct values, each sent once.
    assert summary["ingest"]["values_sent"] == 300 and summary["plain"]["values_sent"] == 0
    assert "| `ingest run` |" in (tmp_path / "benchmarks.md").read_text()
