"""Real local stand-ins for AWS, started by the tests themselves: DynamoDB Local (AWS's own
implementation, fetched from Maven Central with `mvn`) and moto's server (for KMS only); an older
AWS SDK's jars, fetched the same way, for the classpath-clash test. Also
`HandlerProcess`: the Lambda handler in a process of its own, driven as the runtime drives it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DYNAMODB_LOCAL = HERE / "dynamodb_local"
OLDER_AWS_SDK = HERE / "older_aws_sdk"
# DynamoDB Local 2.x accepts access key ids of letters and digits only.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "tegridylocal", "AWS_SECRET_ACCESS_KEY": "tegridylocal",
               "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s:.0f} s")


def maven_fetch(folder: Path, what: str) -> Path:
    """`folder`/lib/: the jars of the tiny pom in `folder`, fetched once from Maven Central with
    `mvn dependency:copy-dependencies` (lib/ is git-ignored)."""
    lib = folder / "lib"
    done = lib / ".fetched"
    if not done.exists():
        if shutil.which("mvn") is None:
            raise RuntimeError(f"the tests that use {what} need Maven (`mvn`) to fetch it from Maven Central")
        subprocess.run(["mvn", "-q", "-B", "dependency:copy-dependencies", "-DoutputDirectory=lib"],
                       cwd=folder, check=True)
        done.touch()
    return lib


def fetch_dynamodb_local() -> Path:
    """The folder of DynamoDB Local's jars and sqlite4java's native library."""
    lib = maven_fetch(DYNAMODB_LOCAL, "DynamoDB Local")
    if not list(lib.glob("libsqlite4java-linux-amd64-*.so")):
        (lib / ".fetched").unlink()
        raise RuntimeError("Maven fetched DynamoDB Local without sqlite4java's linux-amd64 library")
    return lib


def fetch_older_aws_sdk() -> list[Path]:
    """The jars of an older AWS SDK v2 Lambda client (tests/older_aws_sdk/pom.xml), as a cluster
    such as EMR or Glue puts them on the classpath."""
    return sorted(maven_fetch(OLDER_AWS_SDK, "an older AWS SDK").glob("*.jar"))


def start_dynamodb_local(workdir: Path) -> tuple[subprocess.Popen, str]:
    lib = fetch_dynamodb_local()
    port = free_port()
    command = ["java", f"-Djava.library.path={lib}", "-cp", f"{lib}/*",
               "com.amazonaws.services.dynamodbv2.local.main.ServerRunner", "-inMemory", "-port", str(port)]
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process, "DynamoDB Local")
    return process, f"http://127.0.0.1:{port}"


def start_moto(workdir: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process, "moto server")
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)


class HandlerProcess:
    """`lambda_handler` in its own Python process (tests/lambda_worker.py), one event at a time."""

    def __init__(self, env: dict[str, str], home: Path, python: list[str] | None = None, package: Path | None = None):
        command = [*(python or [sys.executable]), str(HERE / "lambda_worker.py")]
        if package is not None:
            command += ["--path", str(package)]
        environment = {key: value for key, value in os.environ.items() if not key.startswith(("TEGRIDY_", "PYTHON"))}
        environment.update(env, HOME=str(home), TMPDIR=str(home))
        self.audit_lines: list[str] = []
        self.process = subprocess.Popen(command, cwd=home, env=environment, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        """The answer; the audit lines the handler printed to stdout (CloudWatch) go to `audit_lines`."""
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("handler process died: " + self.process.stderr.read())
            answer = json.loads(line)
            if isinstance(answer, dict) and "prev" in answer and "seq" in answer:
                self.audit_lines.append(line.rstrip("\n"))
                continue
            return answer

    def invoke(self, event: Any, remaining_ms: int = 60000) -> dict[str, Any]:
        return self.call({"event": event, "remaining_ms": remaining_ms})

    def close(self) -> str:
        """Stops the process and returns what it wrote to stderr (searched for values)."""
        self.process.stdin.close()
        self.process.wait(30)
        output = self.process.stdout.read() + self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return output
