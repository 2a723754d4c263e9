"""How many values a second the reference service tokenizes over HTTP (`make bench-service`, issue 15 §3).

`tegridy-tokens serve` runs as users run it (its own process tree, --workers N), stateless and with
the SQLite vault. A load generator in another process keeps C requests in flight over keep-alive
HTTP/1.1 connections, each a batch of 500 values never sent before (so every vault value is new),
built before the clock starts. Reported: values/s, the CPU seconds the server's processes used
(from /proc), values per server CPU second (the per-core figure: it holds whatever else the
machine runs) and values/s divided by the workers. The machine's load average is recorded with it.

Writes the "throughput" part of docs/service_benchmarks.json and the table between the
service-throughput markers in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from doc_markers import write_between_markers

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BATCH = 500
INVOKE = "/2015-03-31/functions/tegridy-tokens/invocations"
TARGETS = {"stateless": 200_000, "sqlite": 50_000}  # values per second per core (issue 15 §3)
START, END = "<!-- service-throughput:start -->", "<!-- service-throughput:end -->"


def request_bytes(host: str, port: int, prefix: str, index: int) -> bytes:
    """One tokenize request of BATCH values that no other request carries."""
    items = b",".join(b'{"data":"%s-%d-%d@example.com"}' % (prefix.encode(), index, i) for i in range(BATCH))
    body = b'{"requests":[' + items + b"]}"
    head = (f"POST {INVOKE} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("ascii")
    return head + body


async def _connection(host: str, port: int, requests: list[bytes], answered: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for request in requests:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            body = await reader.readexactly(length)
            if status != b"200" or b"X-Amz-Function-Error" in head:
                raise RuntimeError(f"the service answered HTTP {status.decode()}: {body[:200]!r}")
            answered[0] += body.count(b'"success":true')
    finally:
        writer.close()


def generate(host: str, port: int, prefix: str, requests: int, concurrency: int, out) -> None:
    """The load generator's process: builds every request, then sends them on `concurrency` connections."""
    built = [request_bytes(host, port, prefix, i) for i in range(requests)]
    shares = [built[i::concurrency] for i in range(concurrency)]
    answered = [0]

    async def run() -> None:
        await asyncio.gather(*(_connection(host, port, share, answered) for share in shares))

    out.send("ready")
    out.recv()  # the parent's go, once it has read the server's CPU clock
    started = time.perf_counter()
    asyncio.run(run())
    out.send((time.perf_counter() - started, answered[0]))


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (live ones only)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def measure(mode: str, workers: int, concurrency: int, values: int, work: Path) -> dict:
    from tegridy_tokens.service.local import serve_in_subprocess

    options = ["--max-values-per-second", "1e12", "--log-level", "WARNING"] + (["--workers", str(workers)] if workers != 1 else [])
    if mode == "stateless":
        options.append("--stateless")
    else:  # a new vault, and its own keyring beside it
        home = work / f"vault-{workers}-{time.time_ns()}"
        home.mkdir()
        options += ["--vault", str(home / "vault.db")]
    server, endpoint = serve_in_subprocess(*options, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host, port = endpoint.rsplit("/", 1)[1].rsplit(":", 1)
    try:
        time.sleep(1.0 if workers > 1 else 0.2)  # every worker bound and ready
        ours, theirs = multiprocessing.Pipe()
        # A short warm-up: imports, first connections, SQLite pages.
        generator = multiprocessing.Process(target=generate, args=(host, int(port), f"warm{time.time_ns()}",
                                                                   2 * concurrency, concurrency, theirs))
        generator.start()
        ours.recv(), ours.send("go"), ours.recv()
        generator.join()
        generator = multiprocessing.Process(target=generate, args=(host, int(port), f"run{time.time_ns()}",
                                                                   max(1, values // BATCH), concurrency, theirs))
        generator.start()
        ours.recv()
        pids = process_tree(server.pid)
        cpu_before, load = cpu_seconds(pids), os.getloadavg()[0]
        ours.send("go")
        seconds, answered = ours.recv()
        cpu = cpu_seconds(pids) - cpu_before
        generator.join()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    sent = max(1, values // BATCH) * BATCH
    if answered != sent:
        raise RuntimeError(f"{answered} of {sent} values were tokenized")
    return {"mode": mode, "workers": workers, "concurrency": concurrency, "values": sent,
            "seconds": round(seconds, 3), "values_per_s": round(sent / seconds),
            "values_per_s_per_worker": round(sent / seconds / workers),
            "server_cpu_s": round(cpu, 2), "values_per_server_cpu_s": round(sent / cpu) if cpu else None,
            "load_average_1m_before": round(load, 2)}


def table(rows: list[dict]) -> str:
    lines = ["| vault | workers | in flight | values/s | per worker | server CPU s | values per server CPU s "
             "| target per core | load (1 min) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['workers']} | {r['concurrency']} | {r['values_per_s']:,} "
                     f"| {r['values_per_s_per_worker']:,} | {r['server_cpu_s']} | {r['values_per_server_cpu_s']:,} "
                     f"| {TARGETS[r['mode']]:,} | {r['load_average_1m_before']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts to measure")
    parser.add_argument("--modes", default="stateless,sqlite")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--values", type=int, default=500_000, help="values per measurement (stateless)")
    parser.add_argument("--vault-values", type=int, default=200_000, help="values per measurement (SQLite vault)")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for mode in args.modes.split(","):
            for workers in (int(w) for w in args.workers.split(",")):
                row = measure(mode, workers, args.concurrency,
                              args.values if mode == "stateless" else args.vault_values, Path(work))
                print(json.dumps(row), flush=True)
                rows.append(row)
    args.out.mkdir(parents=True, exist_ok=True)
    figures = args.out / "service_benchmarks.json"
    results = json.loads(figures.read_text()) if figures.exists() else {}
    results["throughput"] = {"cpus": os.cpu_count(), "batch": BATCH, "runs": rows}
    figures.write_text(json.dumps(results, indent=2) + "\n")
    write_between_markers(args.out / "benchmarks.md", START, END, table(rows))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
