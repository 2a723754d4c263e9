"""Profiles the repeated-values path with Java Flight Recorder (built into JDK 17).

Runs tegridy_tokenize_hp over the repeated-values workload (2M rows, 20K distinct) five times with
JFR's execution sampler on, then prints the hottest frames (top of stack, and our own frames
anywhere on the stack) as a Markdown table for docs/benchmarks.md.

    .venv/bin/python benchmarks/jfr_profile.py
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import start_service  # noqa: E402


def record(recording: Path) -> None:
    """The measured job, in its own process: JFR writes the recording when that JVM exits."""
    from pyspark.sql import SparkSession

    import tegridy_tokens

    service, endpoint = start_service(20)
    spark = tegridy_tokens.configure_spark(
        SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
        .config("spark.driver.extraJavaOptions",
                f"-XX:StartFlightRecording=filename={recording},settings=profile,dumponexit=true"),
        function_name="tegridy-tokens", endpoint=endpoint).getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        for rep in range(5):
            started = time.perf_counter()
            spark.range(0, 2_000_000, 1, 4).selectExpr(f"concat('p{rep}user', id % 20000, '@example.com') AS v") \
                .selectExpr("tegridy_tokenize_hp(v) AS t").write.format("noop").mode("overwrite").save()
            print(f"rep {rep}: {time.perf_counter() - started:.2f} s", flush=True)
    finally:
        spark.stop()
        service.terminate()


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--record":
        record(Path(sys.argv[2]))
        return 0
    recording = Path(tempfile.mkdtemp()) / "repeated.jfr"
    subprocess.run([sys.executable, __file__, "--record", str(recording)], check=True)
    # Only what the task threads did (the invocation threads mostly wait on the service).
    events = json.loads(subprocess.run(["jfr", "print", "--json", "--events", "jdk.ExecutionSample", str(recording)],
                                       capture_output=True, text=True, check=True).stdout)["recording"]["events"]
    top, ours = collections.Counter(), collections.Counter()
    executor_samples = 0
    for event in events:
        frames = event["values"]["stackTrace"]["frames"]
        thread = (event["values"].get("sampledThread") or {}).get("javaName") or ""
        if not frames or not thread.startswith("Executor task launch worker"):
            continue
        executor_samples += 1
        name = lambda f: f"{f['method']['type']['name']}.{f['method']['name']}"  # noqa: E731
        top[name(frames[0])] += 1
        for frame in {name(f) for f in frames if f["method"]["type"]["name"].startswith(("com.tegridy", "com/tegridy"))}:
            ours[frame] += 1
    print(f"\nexecutor-thread samples: {executor_samples}\n")
    print("| top frame (self time) | share |\n|---|---|")
    for frame, count in top.most_common(15):
        print(f"| `{frame}` | {100 * count / executor_samples:.1f}% |")
    print("\n| our frame anywhere on the stack (inclusive) | share |\n|---|---|")
    for frame, count in ours.most_common(12):
        print(f"| `{frame}` | {100 * count / executor_samples:.1f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
