"""A faulty network in front of the real reference service, for the fault suite: an HTTP/1.1
proxy that forwards each request, then at a given rate answers the client with one fault
instead of the service's reply: a reset (RST), a stall past the client's timeout, a body cut
short, headers without their body, garbage, or an earlier reply to another request (a replay).
Every request reaches the service before its fault, so the service's own counters see each
call the engine sent. Keep-alive is kept, as a real proxy keeps it."""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter, deque
from urllib.parse import urlparse

FAULTS = ("reset", "stall", "truncate", "headers_only", "garbage", "replay")


class FaultProxy:
    """`with FaultProxy(service_endpoint, rate=0.1) as proxy: proxy.endpoint`; `proxy.faults` counts
    what was injected. `stall_s` must exceed the client's timeout. A replay answers with a reply
    the service gave earlier to another request of the same function."""

    def __init__(self, upstream: str, rate: float, faults: tuple[str, ...] = FAULTS, stall_s: float = 3.0,
                 seed: int = 7) -> None:
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname, parsed.port)
        self.rate = rate
        self.kinds = faults
        self.stall_s = stall_s
        self.faults: Counter[str] = Counter()
        self.forwarded = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._earlier: dict[str, deque[bytes]] = {}
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = http.client.HTTPConnection(*self.upstream, timeout=120)
        reader = client.makefile("rb")
        try:
            while True:
                request = _read_request(reader, client)
                if request is None:
                    return
                method, path, headers, body = request
                upstream.request(method, path, body=body, headers=headers)
                response = upstream.getresponse()
                reply = _raw_response(response.status, response.reason, response.getheaders(), response.read())
                fault = self._pick(path, reply)
                if fault is None:
                    client.sendall(reply)
                    continue
                self._inject(fault, client, reply, path)
                return  # the connection is done for after any fault
        except (OSError, http.client.HTTPException):
            return
        finally:
            upstream.close()
            try:
                client.close()
            except OSError:
                pass

    def _pick(self, path: str, reply: bytes) -> str | None:
        with self._lock:
            self.forwarded += 1
            earlier = self._earlier.setdefault(path, deque(maxlen=32))
            fault = self._random.choice(self.kinds) if self._random.random() < self.rate else None
            if fault == "replay" and not any(r != reply for r in earlier):
                fault = "garbage"  # nothing different to replay yet
            if fault is not None:
                self.faults[fault] += 1
            earlier.append(reply)
            return fault

    def _inject(self, fault: str, client: socket.socket, reply: bytes, path: str) -> None:
        head, _, body = reply.partition(b"\r\n\r\n")
        if fault == "reset":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif fault == "stall":
            time.sleep(self.stall_s)
        elif fault == "truncate":
            client.sendall(head + b"\r\n\r\n" + body[: len(body) // 2])
        elif fault == "headers_only":
            client.sendall(head + b"\r\n\r\n")
        elif fault == "garbage":
            junk = bytes(self._random.getrandbits(8) for _ in range(max(16, len(body))))
            client.sendall(_raw_response(200, "OK", [("Content-Type", "application/json")], junk))
        elif fault == "replay":
            with self._lock:
                choices = [r for r in self._earlier[path] if r != reply]
                stale = self._random.choice(choices)
            client.sendall(stale)


def _read_request(reader, client: socket.socket) -> tuple[str, str, dict[str, str], bytes] | None:
    line = reader.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = reader.readline().decode("latin-1")
        if header in ("\r\n", "\n", ""):
            break
        name, _, value = header.partition(":")
        headers[name.strip()] = value.strip()
    lowered = {k.lower(): v for k, v in headers.items()}
    if lowered.get("expect", "").lower() == "100-continue":
        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    body = reader.read(int(lowered.get("content-length", "0")))
    return method, path, headers, body


def _raw_response(status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    kept = [(k, v) for k, v in headers if k.lower() not in ("content-length", "transfer-encoding", "connection")]
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in kept] + [f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
