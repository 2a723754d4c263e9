"""`tegridy-tokens serve --workers 2`: two processes behind one port give the same tokens, share
one SQLite vault (a token one worker stored, the other detokenizes) and one set of counters."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tegridy_tokens.service.local import serve_in_subprocess

INVOKE = "/2015-03-31/functions/{}/invocations"


def invoke(endpoint: str, function: str, event: dict) -> dict:
    """One invocation on a connection of its own, so the kernel may hand it to either worker."""
    request = urllib.request.Request(endpoint + INVOKE.format(function), data=json.dumps(event).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def stats(endpoint: str) -> dict:
    with urllib.request.urlopen(endpoint + "/_tegridy/stats", timeout=30) as response:
        return json.load(response)


@pytest.fixture(params=["vault", "stateless"])
def two_workers(request, tmp_path):
    store = ["--stateless"] if request.param == "stateless" else ["--vault", str(tmp_path / "vault.db")]
    process, endpoint = serve_in_subprocess(*store, "--workers", "2", "--log-level", "WARNING",
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield request.param, endpoint
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output


def test_two_workers_answer_alike_and_share_vault_and_counters(two_workers):
    mode, endpoint = two_workers
    values = [f"worker-{i}@example.com" for i in range(20)]
    calls = 60
    with ThreadPoolExecutor(8) as pool:  # fresh connections, several at once: both workers serve
        answers = list(pool.map(lambda i: invoke(endpoint, "tegridy-tokens",
                                                 {"requests": [{"data": v} for v in values[i % 3:]]}), range(calls)))
    tokens: dict[str, set[str]] = {}
    for answer in answers:
        for item in answer["responses"]:
            tokens.setdefault(item["data"], set()).add(item["token"])
    assert set(tokens) == set(values)
    assert all(len(seen) == 1 for seen in tokens.values()), "a value got different tokens from different workers"

    counted = stats(endpoint)
    assert counted["invocations"] == calls
    assert counted["values_received"] == sum(len(values) - i % 3 for i in range(calls))
    assert len(counted["invocations_per_worker"]) == 2 and sum(counted["invocations_per_worker"]) == calls
    assert all(n > 0 for n in counted["invocations_per_worker"]), counted["invocations_per_worker"]

    if mode == "vault":
        by_token = {next(iter(seen)): value for value, seen in tokens.items()}
        with ThreadPoolExecutor(4) as pool:
            found = list(pool.map(lambda _: invoke(endpoint, "tegridy-tokens-detokenize", {"tokens": list(by_token)}),
                                  range(8)))
        assert all(answer == {"tokens": by_token} for answer in found)


def test_audit_needs_one_worker(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tegridy_tokens.cli", "serve", "--stateless", "--workers", "2",
                             "--audit", str(tmp_path / "audit.jsonl")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "--workers 1" in result.stderr and "--audit" in result.stderr


def test_workers_end_with_a_killed_parent(tmp_path):
    process, endpoint = serve_in_subprocess("--stateless", "--workers", "2", "--log-level", "WARNING")
    listing = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + 60  # the first worker may listen before the second is forked
    while time.monotonic() < deadline and len(listing.read_text().split()) < 2:
        time.sleep(0.1)
    children = [int(pid) for pid in listing.read_text().split()]
    assert len(children) == 2
    process.kill()
    process.wait(30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.2)
    assert not any(alive(pid) for pid in children), "a worker outlived its killed parent"


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
