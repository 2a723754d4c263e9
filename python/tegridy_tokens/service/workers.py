"""Several worker processes behind one port: `tegridy-tokens serve --workers N`.

The parent reserves the port (bound, not listening), then forks N workers that each listen on it
with their own SO_REUSEPORT socket, so the kernel spreads connections evenly over them. (A shared
pre-forked socket was measured first: asyncio accepts greedily, so one worker took every
keep-alive connection of a client and a second worker added nothing.) The workers share nothing
but the port and one anonymous shared-memory page of counters
(`SharedCounters`): each worker writes only its own row, and the stats route and the concurrency
limit read the sum of all rows, so both stay per server, not per worker. SIGTERM or SIGINT to the
parent is passed on to every worker, each finishes the invocations under way, and the parent exits
0; a worker that dies on its own stops the others and the parent exits 1. A parent killed
outright (SIGKILL) takes its workers with it on Linux (PR_SET_PDEATHSIG), so no orphan keeps the
port.
"""

from __future__ import annotations

import logging
import mmap
import os
import signal
import socket
from typing import Any, Callable

log = logging.getLogger("tegridy_tokens.service")

COUNTERS = ("invocations", "tokenize_invocations", "detokenize_invocations", "values_received", "tokens_received",
            "throttled", "function_errors", "max_concurrent", "in_flight")
_INDEX = {name: i for i, name in enumerate(COUNTERS)}
_WIDTH = len(COUNTERS)


class SharedCounters:
    """The service's own counts, one row per worker in memory that forked workers share."""

    def __init__(self, workers: int = 1):
        self.workers = workers
        self._memory = mmap.mmap(-1, 8 * _WIDTH * workers)  # anonymous and MAP_SHARED: seen across fork
        self._cells = memoryview(self._memory).cast("q")
        self.row = 0  # this process's row; a worker sets its own after the fork

    def add(self, name: str, amount: int = 1) -> None:
        self._cells[self.row * _WIDTH + _INDEX[name]] += amount

    def total(self, name: str) -> int:
        index = _INDEX[name]
        return sum(self._cells[row * _WIDTH + index] for row in range(self.workers))

    def note_concurrency(self, in_flight: int) -> None:
        cell = self.row * _WIDTH + _INDEX["max_concurrent"]
        if in_flight > self._cells[cell]:
            self._cells[cell] = in_flight

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, Any] = {name: self.total(name) for name in COUNTERS if name not in ("max_concurrent", "in_flight")}
        index = _INDEX["max_concurrent"]
        counts["max_concurrent"] = max(self._cells[row * _WIDTH + index] for row in range(self.workers))
        index = _INDEX["invocations"]
        counts["invocations_per_worker"] = [self._cells[row * _WIDTH + index] for row in range(self.workers)]
        return counts


def bound_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to (host, port), not yet listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


def listening_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    sock = bound_socket(host, port, reuse_port)
    sock.listen(1024)
    return sock


def serve_workers(reserved: socket.socket, workers: int, run_worker: Callable[[int, socket.socket], None]) -> int:
    """Forks `workers` processes that each call run_worker(index, its own listening socket on the
    port `reserved` holds), which serves until SIGTERM; waits for them and returns the exit status."""
    host, port = reserved.getsockname()[:2]
    children: dict[int, int] = {}
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            _signal(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    parent = os.getpid()
    for index in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker: its own signal handling comes from the server it runs
            for s, handler in previous.items():
                signal.signal(s, handler)
            _die_with(parent)
            code = 0
            try:
                run_worker(index, listening_socket(host, port, reuse_port=True))
            except BaseException:  # noqa: BLE001 - the parent reports it; the exception may quote nothing
                log.exception("worker %d failed", index)
                code = 1
            finally:
                os._exit(code)
        children[pid] = index
    status = 0
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        index = children.pop(pid, None)
        if index is not None and not stopping:
            log.error("worker %d exited on its own (status %d); stopping the others", index, code)
            status = 1
            stop(signal.SIGTERM, None)
    return status


def _die_with(parent: int) -> None:
    """SIGTERM to this worker when its parent dies (Linux; elsewhere a killed parent's workers stay)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
