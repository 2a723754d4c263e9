"""Erasure at scale: `tegridy-tokens erase --tokens-file` over 100,000 tokens, on SQLite and on
DynamoDB Local (started here unless --endpoint), timed as an operator runs it (the whole command,
interpreter start included), after a --dry-run over the same file.

Figures go to the "Erasure" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

START, END = "<!-- erasure-benchmark:start -->", "<!-- erasure-benchmark:end -->"


def fill(vault_url: str, engine, count: int) -> list[str]:
    """`count` sealed entries in scope "bulk", written straight to the vault in its batches (faster
    than tokenizing each through a conditional PutItem); their tokens, in order."""
    from tegridy_tokens.service.retry import Deadline
    from tegridy_tokens.service.sealing import seal_many
    from tegridy_tokens.service.vault import open_vault

    values = [f"bulk-{i}@example.com" for i in range(count)]
    tokens = engine.tokens_for(values, "bulk")
    store, keyring = open_vault(vault_url), engine.keyring
    for start in range(0, count, 10_000):
        part = dict(zip(tokens[start:start + 10_000], values[start:start + 10_000]))
        store.replace_many(seal_many(keyring.sealing_version, keyring.sealing_public_key, part, keyring.keyring_id),
                           Deadline(600))
    return tokens


def timed_erase(vault_url: str, tokens_file: Path, *options: str) -> float:
    """Seconds the `erase` command took over the file; its failure ends the benchmark."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", "erase", "--vault", vault_url,
                           "--tokens-file", str(tokens_file), "--reason", "BENCH", *options],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"erase failed: {done.stderr[-2000:]}")
    return elapsed


def measure(vault_url: str, engine, work: Path, count: int) -> dict:
    tokens = fill(vault_url, engine, count)
    tokens_file = work / f"tokens-{uuid.uuid4().hex[:6]}.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    dry = timed_erase(vault_url, tokens_file, "--dry-run")
    real = timed_erase(vault_url, tokens_file)
    return {"tokens": count, "dry_run_s": round(dry, 1), "erase_s": round(real, 1),
            "tokens_per_s": round(count / real)}


def run(count: int, endpoint: str | None) -> dict:
    from aws_local import CREDENTIALS, start_dynamodb_local, stop
    from tegridy_tokens.service.config import BOTH, Settings, build_engine, open_engine
    from tegridy_tokens.service.dynamodb_vault import create_table, default_client
    from tegridy_tokens.service.keys import init_keys
    from tegridy_tokens.service.vault import open_vault

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        results["sqlite"] = measure(f"sqlite://{work / 'vault.db'}", open_engine(work / "vault.db"), work, count)
        process = None
        if endpoint is None:
            process, endpoint = start_dynamodb_local(work)
        # STS is not served locally: the OS user stands in for the caller identity, at once.
        os.environ.update(CREDENTIALS, AWS_ENDPOINT_URL_DYNAMODB=endpoint, AWS_ENDPOINT_URL_STS="http://127.0.0.1:9")
        try:
            table = "tegridy-erase-bench-" + uuid.uuid4().hex[:8]
            create_table(default_client(), table)
            init_keys(open_vault(f"dynamodb://{table}"), keyring_path=work / "dynamodb-keyring.json")
            engine = build_engine(Settings(f"dynamodb://{table}", BOTH, str(work / "dynamodb-keyring.json")))
            results["dynamodb_local"] = measure(f"dynamodb://{table}", engine, work, count)
        finally:
            if process is not None:
                stop(process)
    return results


def table(results: dict) -> str:
    lines = ["| vault | tokens | --dry-run s | erase s | tokens/s |", "|---|---:|---:|---:|---:|"]
    for vault, r in results.items():
        lines.append(f"| {vault} | {r['tokens']:,} | {r['dry_run_s']} | {r['erase_s']} | {r['tokens_per_s']:,} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--endpoint", help="an already running DynamoDB Local (default: start one)")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    results = run(args.tokens, args.endpoint)
    from doc_markers import write_between_markers

    write_between_markers(args.out / "benchmarks.md", START, END, table(results), missing="")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
