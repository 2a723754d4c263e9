"""`tegridy-tokens serve` as users run it: a separate process, logging at DEBUG, stopped by SIGTERM.
Its whole output is searched for the values it was sent."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import lambda_client

CANARY = "canary-5e8d-never-in-a-log@example.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    port = free_port()
    script = Path(sys.executable).with_name("tegridy-tokens")
    process = subprocess.Popen(
        [str(script), "serve", "--port", str(port), "--vault", str(tmp_path / "vault.db"), "--log-level", "DEBUG"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield process, f"http://127.0.0.1:{port}"
    if process.poll() is None:
        process.kill()


def test_no_value_in_the_log_and_clean_sigterm(server):
    process, endpoint = server
    client = lambda_client(endpoint)
    name = "tegridy-tokens"
    response = client.invoke(FunctionName=name, Payload=json.dumps({"requests": [{"data": CANARY}, {"data": 7}]}))
    token = json.loads(response["Payload"].read())["responses"][0]["token"]
    client.invoke(FunctionName=name, Payload=json.dumps({"tokens": [token, CANARY]}))
    client.invoke(FunctionName=name, Payload=json.dumps({"requests": CANARY}))          # wrong shape
    client.invoke(FunctionName=name, Payload=json.dumps({"other": CANARY}))             # wrong shape
    with pytest.raises(Exception):
        client.invoke(FunctionName=name, Payload=("{" + CANARY).encode())             # not JSON
    with pytest.raises(Exception):
        client.invoke(FunctionName=name, Payload=json.dumps({"requests": [{"data": CANARY * 200000}]}))  # 413
    with pytest.raises(Exception):
        client.invoke(FunctionName=CANARY.replace("@", "-"), Payload=b"{}")            # 404

    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "serving Lambda function" in output and "invoke" in output  # it did log, at DEBUG
    assert CANARY not in output
    assert token not in output
