"""Several worker processes behind one port: `tegridy-tokens serve --workers N`.

The parent binds the listening socket, then forks N workers that all accept on it (a pre-forked
shared socket, as gunicorn and nginx do; it works for a port of 0 and needs no SO_REUSEPORT). The
workers share nothing but that socket and one anonymous shared-memory page of counters
(`SharedCounters`): each worker writes only its own row, and the stats route and the concurrency
limit read the sum of all rows, so both stay per server, not per worker. SIGTERM or SIGINT to the
parent is passed on to every worker, each finishes the invocations under way, and the parent exits
0; a worker that dies on its own stops the others and the parent exits 1.
"""

from __future__ import annotations

import logging
import mmap
import os
import signal
import socket
from typing import Callable

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

    def as_dict(self) -> dict[str, int]:
        counts = {name: self.total(name) for name in COUNTERS if name not in ("max_concurrent", "in_flight")}
        index = _INDEX["max_concurrent"]
        counts["max_concurrent"] = max(self._cells[row * _WIDTH + index] for row in range(self.workers))
        return counts


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def serve_workers(sock: socket.socket, workers: int, run_worker: Callable[[int], None]) -> int:
    """Forks `workers` processes that each call run_worker(index) (which serves `sock` until
    SIGTERM); waits for them and returns the exit status for the command."""
    children: dict[int, int] = {}
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            _signal(pid, signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    for index in range(workers):
        pid = os.fork()
        if pid == 0:  # the worker: its own signal handling comes from the server it runs
            for s, handler in previous.items():
                signal.signal(s, handler)
            code = 0
            try:
                run_worker(index)
            except BaseException:  # noqa: BLE001 - the parent reports it; the exception may quote nothing
                log.exception("worker %d failed", index)
                code = 1
            finally:
                os._exit(code)
        children[pid] = index
    sock.close()
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


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
