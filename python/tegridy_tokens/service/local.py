"""Running the reference service locally: an in-process server for notebooks and tests
(`with local_service() as service: service.endpoint`) and `tegridy-tokens serve` as a process.
A brand-new SQLite vault gets its keys on first start here (config.open_engine), never one that
holds entries; the Lambda handler never makes keys."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from aiohttp import web

from .config import BOTH, default_home, open_engine
from .audit import AuditLog
from .auth import Principals
from .server import DETOKENIZE_SUFFIX, STATS_PATH, LambdaInvokeApp, ServerSettings

__all__ = ["LocalService", "local_service", "serve_in_subprocess", "open_engine", "default_home"]


@dataclass
class LocalService:
    endpoint: str
    function_name: str
    app: LambdaInvokeApp

    @property
    def detokenize_function_name(self) -> str:
        """The function that serves detokenize: the base name with -detokenize appended."""
        return self.function_name + DETOKENIZE_SUFFIX

    def stats(self) -> dict[str, int]:
        """The service's own counters, read over HTTP as any client would."""
        with urllib.request.urlopen(self.endpoint + STATS_PATH, timeout=10) as response:
            return json.load(response)


@contextmanager
def local_service(vault: str | os.PathLike[str] | None = None, keyring: str | os.PathLike[str] | None = None,
                  function_name: str = "tegridy-tokens", host: str = "127.0.0.1", port: int = 0,
                  max_concurrency: int | None = None, latency_ms: float = 0.0, stateless: bool = False,
                  on_event: Callable[[Any], None] | None = None,
                  operations: frozenset[str] = BOTH, principals: Principals | None = None,
                  allow_remote: bool = False, max_values_per_second: float | None = None,
                  audit: AuditLog | None = None, region: str = "us-east-1") -> Iterator[LocalService]:
    """Starts the local Lambda on a background thread (port 0: any free port) and stops it on exit.
    `vault` is a SQLite file path or a vault URL (dynamodb://TABLE with `keyring` or KMS keys).
    It serves `function_name` (tokenize) and `function_name`-detokenize (detokenize)."""
    engine = open_engine(vault, keyring, stateless, operations)
    settings = ServerSettings(function_name=function_name, max_concurrency=max_concurrency,
                              latency_ms=latency_ms, on_event=on_event, principals=principals,
                              allow_remote=allow_remote, max_values_per_second=max_values_per_second, audit=audit,
                              region=region)
    invoke_app = LambdaInvokeApp(engine, settings)
    with serve_app_in_thread(invoke_app, host, port) as endpoint:
        yield LocalService(endpoint, function_name, invoke_app)


@contextmanager
def serve_app_in_thread(invoke_app: LambdaInvokeApp, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serves `invoke_app` on a background thread's event loop; yields its endpoint, stops on exit."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(invoke_app.build(), access_log=None)
    started = threading.Event()
    bound: dict[str, Any] = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, host, port)
            loop.run_until_complete(site.start())
            bound["port"] = runner.addresses[0][1]
        except BaseException as error:  # surfaced to the caller below
            bound["error"] = error
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="tegridy-local-service", daemon=True)
    thread.start()
    started.wait(30)
    if "error" in bound:
        raise bound["error"]
    try:
        yield f"http://{host}:{bound['port']}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def serve_in_subprocess(*options: str, host: str = "127.0.0.1", timeout_s: float = 60.0, port: int | None = None,
                        **popen_kwargs: Any) -> tuple[subprocess.Popen, str]:
    """Starts `tegridy-tokens serve` as its own process, as users run it, on `port` (default: a free
    one), and returns it with its endpoint once it accepts connections. `options` are extra serve flags."""
    if port is None:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tegridy_tokens.cli", "serve", "--host", host, "--port", str(port), *options]
    process = subprocess.Popen(command, **popen_kwargs)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return process, f"http://{host}:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"tegridy-tokens serve did not start listening on {host}:{port} within {timeout_s:.0f} s")
