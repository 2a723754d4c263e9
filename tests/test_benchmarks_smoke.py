"""The benchmark harness in its tiny mode, so it never rots: every system runs every workload
and the outputs (table, plot, figures) are written."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO


def test_benchmark_harness_smoke(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--smoke", "--latency-ms", "2",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "benchmarks.json").read_text())
    assert set(results["workloads"]) == {"repeated", "unique", "zipf", "1kb"}
    for workload, systems in results["workloads"].items():
        assert set(systems) == {"tegridy", "pandas_udf", "sha2", "row_udf", "plain"}
        assert all(r["rows_per_s"] > 0 for r in systems.values())
        # The engine batched: far fewer invocations than values, each distinct value sent once.
        assert systems["tegridy"]["invocations"] < systems["tegridy"]["values_sent"]
        assert systems["row_udf"]["invocations"] == systems["row_udf"]["values_sent"]
        # Task CPU is read for the systems that work in the JVM only.
        assert all(systems[s]["task_cpu_s"] > 0 for s in ("tegridy", "sha2", "plain"))
        assert systems["pandas_udf"]["task_cpu_s"] is None
    assert results["cache_footprint"]["entries"] == 20000
    assert (tmp_path / "benchmarks.png").stat().st_size > 10_000
    assert "| repeated | tegridy |" in (tmp_path / "benchmarks.md").read_text()


def test_scale_harness_smoke(tmp_path):
    """The 50M-row run's harness at 400K rows: every slice is reported with its live heap, and the
    repeated workload's 20,000 distinct values are each sent once over 40 tasks."""
    (tmp_path / "benchmarks.md").write_text("# Benchmarks\n")
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "scale.py"), "--rows", "400000",
                           "--slice-rows", "100000", "--workloads", "repeated", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads((tmp_path / "benchmarks_scale.json").read_text())["long"]["repeated"]
    assert [s["slice"] for s in run["slices"]] == [1, 2, 3, 4]
    assert all(s["rows_per_s"] > 0 and s["live_heap_mb"] > 0 for s in run["slices"])
    assert run["distinct"] == 20_000 and run["values_sent"] == 20_000
    assert run["engine"]["rows"] == 400_000
    assert "<!-- scale:begin -->" in (tmp_path / "benchmarks.md").read_text()


def test_benchmark_harness_prefill_reports_values_sent_per_distinct(tmp_path):
    """`--prefill`: another job fills the cache before each run, and no value is sent twice even so."""
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--smoke", "--latency-ms", "2",
                           "--systems", "tegridy", "--prefill", "5000", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "benchmarks.json").read_text())
    assert results["prefill"] == 5000 and not (tmp_path / "benchmarks.md").exists()
    for workload, systems in results["workloads"].items():
        assert set(systems) == {"tegridy"}
        tegridy = systems["tegridy"]
        assert tegridy["distinct"] > 0
        assert tegridy["values_sent"] <= 1.05 * tegridy["distinct"], workload
