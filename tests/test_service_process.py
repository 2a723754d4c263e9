"""`tegridy-tokens serve` as users run it: a separate process, logging at DEBUG, stopped by SIGTERM.
Its whole output is searched for the values it was sent."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from conftest import lambda_client
from tegridy_tokens.service.local import serve_in_subprocess

CANARY = "canary-5e8d-never-in-a-log@example.com"


@pytest.fixture()
def server(tmp_path):
    process, endpoint = serve_in_subprocess("--vault", str(tmp_path / "vault.db"), "--log-level", "DEBUG",
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    yield process, endpoint
    if process.poll() is None:
        process.kill()


def test_no_value_in_the_log_and_clean_sigterm(server):
    process, endpoint = server
    client = lambda_client(endpoint)
    name = "tegridy-tokens"
    response = client.invoke(FunctionName=name, Payload=json.dumps({"requests": [{"data": CANARY}, {"data": 7}]}))
    token = json.loads(response["Payload"].read())["responses"][0]["token"]
    client.invoke(FunctionName=name + "-detokenize", Payload=json.dumps({"tokens": [token, CANARY]}))
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
