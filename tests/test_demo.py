"""`tegridy-tokens demo` (`make demo`): it runs clean (no warning from the packages around it),
shows format-preserving SSN and card tokens beside the plain ones, and ends with the figures that
show the batching."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_shows_formats_and_figures_without_foreign_warnings():
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    done = subprocess.run([str(Path(sys.executable).with_name("tegridy-tokens")), "demo"],
                          capture_output=True, text=True, timeout=600, env=env)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "round trip: 4/4 rows restored exactly" in out
    # Warnings from pandas, pyspark or Spark's start-up (the JVM's own module notice aside).
    assert not re.search(r"FutureWarning|DeprecationWarning|UserWarning| WARN ", out), out[-4000:]
    fpe = re.search(r"\|1 +\|123-45-6789\|(\d{3}-\d{2}-\d{4})\|4111 1111 1111 1111\|(\d{4} \d{4} \d{4} 1111)\|", out)
    assert fpe and fpe.group(1) != "123-45-6789" and fpe.group(2) != "4111 1111 1111 1111", out[-4000:]
    figures = dict(re.findall(r"^  (rows tokenized|values sent|invocations|cache hits) +([\d,]+)", out, re.M))
    assert int(figures["rows tokenized"].replace(",", "")) == 100_000
    assert int(figures["values sent"].replace(",", "")) == 2_000
    assert 4 <= int(figures["invocations"].replace(",", "")) <= 16
