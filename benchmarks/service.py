"""Seed 002's targets, measured on the reference service itself (`make bench-service`).

The handler's own path (`handle_event`, the same code Lambda runs) over the DynamoDB vault on
DynamoDB Local (AWS's implementation, started here as the tests start it), with a file keyring.
Batches of 10, 100 and 500 new values, 500 values already vaulted, and a detokenize of 500.
Every repetition uses fresh values; a warm-up repetition is discarded; figures are medians.
DB operations are the vault's own count of DynamoDB calls. Memory is the Python heap's peak
during one batch (tracemalloc, measured in a separate repetition so it does not slow the timed
ones) and the whole process's peak RSS (boto3 and the interpreter included).

Writes docs/service_benchmarks.json and the table between the markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

# Seed 002's targets: 10 items < 200 ms, 100 < 1 s, 500 < 5 s; < 10 DB operations per 100 items
# (a batch of 10 needs one read and one write whatever its size); < 512 MB.
TARGETS = {"10 new": "< 200 ms", "100 new": "< 1000 ms, < 10 ops/100", "500 new": "< 5000 ms, < 10 ops/100, < 512 MB"}
START, END = "<!-- service-benchmark:start -->", "<!-- service-benchmark:end -->"


def scenarios(engine, prefix: str) -> dict:
    """name -> (event, items): the 500-vaulted case re-sends the 500 values just stored."""
    from tegridy_tokens.service.handler import handle_event

    new = {n: [f"{prefix}-{n}-{i}@example.com" for i in range(n)] for n in (10, 100, 500)}
    stored = handle_event(engine, {"requests": [{"data": v} for v in new[500]]})["responses"]
    tokens = [r["token"] for r in stored]
    more = [f"{prefix}-again-{i}@example.com" for i in range(500)]
    return {
        "10 new": ({"requests": [{"data": v} for v in new[10]]}, 10),
        "100 new": ({"requests": [{"data": v} for v in new[100]]}, 100),
        "500 new": ({"requests": [{"data": v} for v in more]}, 500),
        "500 vaulted": ({"requests": [{"data": v} for v in new[500]]}, 500),
        "detokenize 500": ({"tokens": tokens}, 500),
    }


def measure(engine, reps: int) -> dict:
    """Median ms, DB operations per 100 items and peak heap MB for each scenario."""
    from tegridy_tokens.service.handler import handle_event

    vault = engine.vault
    timings: dict[str, list[float]] = {}
    operations: dict[str, int] = {}
    for rep in range(reps + 1):  # repetition 0 is the warm-up
        for name, (event, items) in scenarios(engine, f"r{rep}-{uuid.uuid4().hex[:6]}").items():
            before = vault.operations
            started = time.perf_counter()
            handle_event(engine, event)
            elapsed = (time.perf_counter() - started) * 1000
            if rep:
                timings.setdefault(name, []).append(elapsed)
                operations[name] = vault.operations - before
    peaks = {}
    for name, (event, items) in scenarios(engine, f"mem-{uuid.uuid4().hex[:6]}").items():
        tracemalloc.start()
        handle_event(engine, event)
        peaks[name] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    sizes = {"10 new": 10, "100 new": 100, "500 new": 500, "500 vaulted": 500, "detokenize 500": 500}
    return {name: {"items": sizes[name], "median_ms": round(statistics.median(values), 1), "max_ms": round(max(values), 1),
                   "db_operations": operations[name], "db_operations_per_100": round(operations[name] * 100 / sizes[name], 2),
                   "peak_heap_mb": round(peaks[name], 2)}
            for name, values in timings.items()}


def run(endpoint: str | None, reps: int) -> dict:
    import os

    from aws_local import CREDENTIALS, start_dynamodb_local, stop
    from tegridy_tokens.service.config import BOTH, Settings, build_engine
    from tegridy_tokens.service.dynamodb_vault import create_table, default_client
    from tegridy_tokens.service.keys import init_keys
    from tegridy_tokens.service.vault import open_vault

    with tempfile.TemporaryDirectory() as work:
        process = None
        if endpoint is None:
            process, endpoint = start_dynamodb_local(Path(work))
        os.environ.update(CREDENTIALS, AWS_ENDPOINT_URL_DYNAMODB=endpoint)
        try:
            table = "tegridy-bench-" + uuid.uuid4().hex[:8]
            create_table(default_client(), table)
            keyring = str(Path(work) / "keyring.json")
            init_keys(open_vault(f"dynamodb://{table}"), keyring_path=keyring)
            started = time.perf_counter()
            engine = build_engine(Settings(f"dynamodb://{table}", BOTH, keyring))
            cold_ms = (time.perf_counter() - started) * 1000
            results = measure(engine, reps)
        finally:
            if process is not None:
                stop(process)
    return {"scenarios": results, "engine_start_ms": round(cold_ms, 1), "reps": reps,
            "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def table(results: dict) -> str:
    lines = ["| batch | median ms | max ms | DB operations | per 100 items | peak heap MB | seed 002 target |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, r in results["scenarios"].items():
        goal = TARGETS.get(name, "")
        lines.append(f"| {name} | {r['median_ms']} | {r['max_ms']} | {r['db_operations']} | {r['db_operations_per_100']} "
                     f"| {r['peak_heap_mb']} | {goal} |")
    lines.append("")
    lines.append(f"Process peak RSS over the whole run: {results['process_peak_rss_mb']} MB (interpreter, boto3 and "
                 f"cryptography included). Engine start (keyring check and load): {results['engine_start_ms']} ms. "
                 f"Median of {results['reps']} repetitions after a warm-up.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--endpoint", help="an already running DynamoDB Local (default: start one)")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    results = run(args.endpoint, args.reps)
    args.out.mkdir(parents=True, exist_ok=True)
    figures = args.out / "service_benchmarks.json"
    kept = json.loads(figures.read_text()) if figures.exists() else {}
    # service_throughput.py's part of the file stays.
    figures.write_text(json.dumps({**results, **{k: v for k, v in kept.items() if k == "throughput"}}, indent=2) + "\n")
    from doc_markers import write_between_markers

    write_between_markers(args.out / "benchmarks.md", START, END, table(results))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
