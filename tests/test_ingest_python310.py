"""The package declares Python >= 3.10: the `ingest` and `state` commands (which need no Spark on
local paths) run under the oldest declared Python, in a venv of its own with the package and its
declared dependencies (pyspark is an extra and is left out)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from ingest_helpers import land, write_config

OLDEST = sorted(Path.home().glob(".pyenv/versions/3.10*/bin/python"))


@pytest.mark.skipif(not OLDEST, reason="no Python 3.10 under ~/.pyenv/versions (install it with `pyenv install 3.10`)")
def test_ingest_and_state_commands_on_python_3_10(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([str(OLDEST[-1]), "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    installed = subprocess.run([python, "-m", "pip", "install", "--quiet", "-e", str(REPO)], capture_output=True,
                               text=True, timeout=900)
    assert installed.returncode == 0, installed.stderr[-3000:]
    version = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert version.stdout.strip() == "(3, 10)"
    for i in range(3):
        land(tmp_path, f"2026-11-0{1 + i}/f.ndjson", [{"id": i, "email": f"old{i}@example.com"}])
    config = str(write_config(tmp_path, expected_file_size_mb=0.001, size_tolerance_percent=99))

    def run(*args: str) -> dict:
        done = subprocess.run([python, "-m", "tegridy_tokens.cli", *args, "--config", config, "--json"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert run("ingest", "track")["tracked"] == 3
    assert len(run("ingest", "manifest", "--flush")["manifests"]) == 3
    assert run("state", "stats")["files"]["manifested"]["count"] == 3
    assert run("state", "validate")["ok"]
