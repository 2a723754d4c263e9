"""Profiles the repeated-values path with Java Flight Recorder (built into JDK 17).

Runs tegridy_tokenize_hp over the repeated-values workload (2M rows, 20K distinct) five times with
JFR's execution sampler on, then prints the hottest frames (top of stack, and our own frames
anywhere on the stack) as a Markdown table for docs/benchmarks.md.

    .venv/bin/python benchmarks/jfr_profile.py
    .venv/bin/python benchmarks/jfr_profile.py --summarize RECORDING.jfr   # any recording, all threads
                                                                           # (fake_fleet.py --jfr makes one)
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
from doc_markers import write_between_markers  # noqa: E402


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
            spark.range(0, 2_000_000, 1, 4).selectExpr("id", f"concat('p{rep}user', id % 20000, '@example.com') AS v") \
                .selectExpr("id", "v", "tegridy_tokenize_hp(v) AS t").write.format("noop").mode("overwrite").save()
            print(f"rep {rep}: {time.perf_counter() - started:.2f} s", flush=True)
    finally:
        spark.stop()
        service.terminate()


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--record":
        record(Path(sys.argv[2]))
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "--summarize":
        print(hot_frames(Path(sys.argv[2]), thread_prefix=None))
        return 0
    recording = Path(tempfile.mkdtemp()) / "repeated.jfr"
    subprocess.run([sys.executable, __file__, "--record", str(recording)], check=True)
    # Only what the task threads did (the invocation threads mostly wait on the service).
    table = hot_frames(recording, thread_prefix="Executor task launch worker")
    print(table)
    # `make bench` keeps the newest profile in docs/benchmarks.md, between its markers.
    write_between_markers(Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md",
                          "<!-- bench:jfr:begin -->", "<!-- bench:jfr:end -->", table)
    return 0


def hot_frames(recording: Path, thread_prefix: str | None) -> str:
    """Markdown tables of the hottest frames in the threads named `thread_prefix...` (None: all),
    and, with all threads, the share of samples per thread group."""
    events = json.loads(subprocess.run(["jfr", "print", "--json", "--events", "jdk.ExecutionSample", str(recording)],
                                       capture_output=True, text=True, check=True).stdout)["recording"]["events"]
    top, ours, groups = collections.Counter(), collections.Counter(), collections.Counter()
    samples = 0
    for event in events:
        frames = event["values"]["stackTrace"]["frames"]
        thread = (event["values"].get("sampledThread") or {}).get("javaName") or ""
        if not frames or (thread_prefix is not None and not thread.startswith(thread_prefix)):
            continue
        samples += 1
        groups[thread.rstrip("0123456789-# ")] += 1
        name = lambda f: f"{f['method']['type']['name']}.{f['method']['name']}"  # noqa: E731
        top[name(frames[0])] += 1
        for frame in {name(f) for f in frames if f["method"]["type"]["name"].startswith(("com.tegridy", "com/tegridy"))}:
            ours[frame] += 1
    lines = [f"\n{'all' if thread_prefix is None else 'executor-thread'} samples: {samples}\n"]
    if thread_prefix is None:
        lines += ["| thread group | share |", "|---|---|"]
        lines += [f"| `{group}` | {100 * count / samples:.1f}% |" for group, count in groups.most_common(8)]
        lines.append("")
    lines += ["| top frame (self time) | share |", "|---|---|"]
    lines += [f"| `{frame}` | {100 * count / samples:.1f}% |" for frame, count in top.most_common(15)]
    lines += ["", "| our frame anywhere on the stack (inclusive) | share |", "|---|---|"]
    lines += [f"| `{frame}` | {100 * count / samples:.1f}% |" for frame, count in ours.most_common(12)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
